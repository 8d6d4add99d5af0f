//! Random bits from the operating system, for the ids of lines, payments and
//! refunds an embedder or the API makes up.

/// The operating system gave no random bytes. Ids made without them could
/// repeat across terminals, so there is no fallback: the caller reports it.
#[derive(Debug, thiserror::Error)]
#[error("the operating system gave no random bytes: {0}")]
pub struct NoRandomness(getrandom::Error);

/// 128 random bits, e.g. for `LineId::from_random` or `PaymentId::from_random`.
pub fn random_u128() -> Result<u128, NoRandomness> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(NoRandomness)?;
    Ok(u128::from_le_bytes(bytes))
}
