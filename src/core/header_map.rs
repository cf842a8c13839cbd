//! The proxy-wasm serialization of a header map, read in place: a u32 count, then (u32 name
//! length, u32 value length) per pair, then each name and value followed by a NUL byte.
//! Whatever the bytes are, reading ends early rather than panicking.

/// (name, value) pairs of a serialized map. A name that is not UTF-8 reads as "" (no header
/// we look for has one); a malformed map ends early.
pub struct Pairs<'a> {
    bytes: &'a [u8],
    index: usize,
    count: usize,
    data_at: usize,
}

impl<'a> Pairs<'a> {
    pub fn new(bytes: &'a [u8]) -> Pairs<'a> {
        let count = read_u32(bytes, 0).unwrap_or(0);
        Pairs {
            bytes,
            index: 0,
            count,
            data_at: 4usize.saturating_add(count.saturating_mul(8)),
        }
    }
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a str, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.index >= self.count {
            return None;
        }
        let lengths_at = 4 + self.index * 8;
        let name_len = read_u32(self.bytes, lengths_at)?;
        let value_len = read_u32(self.bytes, lengths_at + 4)?;
        let name = self
            .bytes
            .get(self.data_at..self.data_at.checked_add(name_len)?)?;
        let value_at = self.data_at + name_len + 1;
        let value = self.bytes.get(value_at..value_at.checked_add(value_len)?)?;
        self.data_at = value_at + value_len + 1;
        self.index += 1;
        Some((std::str::from_utf8(name).unwrap_or(""), value))
    }
}

/// The host's encoding of `pairs`, the inverse of [`Pairs`]: for tests, fuzz seeds and
/// fuzz targets, which build header maps as Envoy would hand them over.
pub fn serialize(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = (pairs.len() as u32).to_le_bytes().to_vec();
    for (name, value) in pairs {
        out.extend((name.len() as u32).to_le_bytes());
        out.extend((value.len() as u32).to_le_bytes());
    }
    for (name, value) in pairs {
        out.extend(*name);
        out.push(0);
        out.extend(*value);
        out.push(0);
    }
    out
}

fn read_u32(bytes: &[u8], at: usize) -> Option<usize> {
    let raw: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(raw) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(bytes: Vec<u8>) -> Vec<(String, Vec<u8>)> {
        Pairs::new(&bytes)
            .map(|(n, v)| (n.to_string(), v.to_vec()))
            .collect()
    }

    #[test]
    fn reads_every_pair_in_order_with_raw_values() {
        let bytes = serialize(&[(b":path", b"/x"), (b"cookie", b"a=\xff"), (b"empty", b"")]);
        assert_eq!(
            pairs(bytes),
            vec![
                (":path".to_string(), b"/x".to_vec()),
                ("cookie".to_string(), b"a=\xff".to_vec()),
                ("empty".to_string(), Vec::new()),
            ]
        );
    }

    #[test]
    fn a_name_that_is_not_utf8_reads_as_empty() {
        let bytes = serialize(&[(b"x-\xff", b"1"), (b"authorization", b"Bearer t")]);
        let read = pairs(bytes);
        assert_eq!(read[0], (String::new(), b"1".to_vec()));
        assert_eq!(read[1].0, "authorization");
    }

    #[test]
    fn malformed_maps_end_early_without_panicking() {
        let good = serialize(&[(b"a", b"1"), (b"b", b"2")]);
        for cut in 0..good.len() {
            let read = pairs(good[..cut].to_vec());
            assert!(read.len() <= 2);
            assert!(read.iter().all(|(n, _)| n == "a" || n == "b"));
        }
        // A count and lengths far beyond the data.
        let mut huge = u32::MAX.to_le_bytes().to_vec();
        huge.extend(u32::MAX.to_le_bytes());
        huge.extend(u32::MAX.to_le_bytes());
        assert!(pairs(huge).is_empty());
        assert!(pairs(Vec::new()).is_empty());
    }
}
