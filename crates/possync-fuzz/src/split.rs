//! Cutting one fuzz input into several messages, so that a target sees
//! sequences (heads, then a fetch, then docs) and not only single messages.
//! Inputs are cut before every occurrence of a marker the messages start
//! with, rather than by length prefixes: a mutation then changes one message
//! instead of shifting the frames of all those after it.

/// The pieces of `data`, each starting with `marker` except perhaps the
/// first; at most `max` of them (the last one keeps the rest).
pub fn split_at_marker<'a>(data: &'a [u8], marker: &[u8], max: usize) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut i = 1;
    while i + marker.len() <= data.len() && pieces.len() + 1 < max {
        if &data[i..i + marker.len()] == marker {
            pieces.push(&data[start..i]);
            start = i;
            i += marker.len();
        } else {
            i += 1;
        }
    }
    if start < data.len() || pieces.is_empty() {
        pieces.push(&data[start..]);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::split_at_marker;

    #[test]
    fn cuts_before_each_marker() {
        assert_eq!(split_at_marker(b"PSaPSbPS", b"PS", 8), vec![&b"PSa"[..], b"PSb", b"PS"]);
        assert_eq!(split_at_marker(b"xPSa", b"PS", 8), vec![&b"x"[..], b"PSa"]);
        assert_eq!(split_at_marker(b"", b"PS", 8), vec![&b""[..]]);
        assert_eq!(split_at_marker(b"PSaPSbPSc", b"PS", 2), vec![&b"PSa"[..], b"PSbPSc"]);
    }
}
