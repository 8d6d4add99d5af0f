// Real `possync run` daemons for the library's tests: the conformance
// test's harness (it needs nothing but Node's own modules).
export * from '../../conformance/daemons.mjs'
