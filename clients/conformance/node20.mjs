// Node 20 lacks Promise.withResolvers (Node 22 has it); libp2p 2.10's
// dependency tree (mortice, it-queue) calls it. Import this first.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
