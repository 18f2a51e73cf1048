//! Property tests of the IDX parser: arbitrary input never panics, valid headers round-trip
//! or fail with the right kind, and a small cap bounds both the output and what is read.

use gpu_mnist::data::{parse_idx, read_idx_bytes, IdxErrorKind, IdxLimits};
use proptest::prelude::*;

mod support;
use support::{gzip, idx, Counting};

/// 4 KiB: small enough that random headers often exceed it.
const CAP: u64 = 4096;

fn small_cap() -> IdxLimits {
    IdxLimits { max_bytes: CAP }
}

/// Image-like dimensions whose product is at most a few KiB.
fn small_dims() -> impl Strategy<Value = Vec<u32>> {
    prop_oneof![(0u32..40).prop_map(|n| vec![n]), (0u32..12, 0u32..9, 0u32..9).prop_map(|(n, r, c)| vec![n, r, c]),]
}

/// Data that is sometimes random, sometimes highly compressible, up to 64 KiB.
fn blob() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..65_536),
        (any::<u8>(), 0usize..65_536).prop_map(|(b, n)| vec![b; n]),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048),
                                   dims in 0usize..4) {
        let _ = parse_idx(&bytes[..], dims, &IdxLimits::default());
        let _ = read_idx_bytes("fuzz", &bytes, false, dims, &small_cap());
        let _ = read_idx_bytes("fuzz.gz", &bytes, true, dims, &small_cap());
    }

    #[test]
    fn arbitrary_bytes_after_gzip_magic_never_panic(
        tail in proptest::collection::vec(any::<u8>(), 0..2048),
        dims in 0usize..4,
    ) {
        // Pass the magic check so the decoder itself sees the junk.
        let mut bytes = vec![0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff];
        bytes.extend_from_slice(&tail);
        let _ = read_idx_bytes("fuzz.gz", &bytes, true, dims, &small_cap());
    }

    #[test]
    fn arbitrary_header_with_arbitrary_payload_never_panics(
        dims in proptest::collection::vec(any::<u32>(), 0..5),
        payload in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let bytes = idx(&dims, &payload);
        let result = parse_idx(&bytes[..], dims.len(), &small_cap());
        if let Ok(arr) = result {
            prop_assert!(arr.data.len() as u64 <= CAP);
        }
    }

    #[test]
    fn valid_header_round_trips_or_is_truncated_or_trailing(
        dims in small_dims(),
        payload in proptest::collection::vec(any::<u8>(), 0..1300),
        gzipped in any::<bool>(),
    ) {
        let declared: usize = dims.iter().map(|&d| d as usize).product();
        let bytes = idx(&dims, &payload);
        let input = if gzipped { gzip(&bytes) } else { bytes };
        let result = read_idx_bytes("p", &input, gzipped, dims.len(), &IdxLimits::default());
        match result {
            Ok(arr) => {
                prop_assert_eq!(payload.len(), declared);
                prop_assert_eq!(arr.dims, dims.iter().map(|&d| d as usize).collect::<Vec<_>>());
                prop_assert_eq!(arr.data, payload);
            }
            Err(e) => match e.kind {
                IdxErrorKind::TruncatedPayload { expected, found } => {
                    prop_assert!(payload.len() < declared);
                    prop_assert_eq!(expected, declared as u64);
                    prop_assert_eq!(found, payload.len() as u64);
                }
                IdxErrorKind::TrailingBytes { expected } => {
                    prop_assert!(payload.len() > declared);
                    prop_assert_eq!(expected, declared as u64);
                }
                other => prop_assert!(false, "unexpected error {other:?}"),
            },
        }
    }

    #[test]
    fn declared_size_above_cap_is_too_large(
        n in 1u32..1_000_000,
        rows in 1u32..100,
        cols in 1u32..100,
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let declared = u64::from(n) * u64::from(rows) * u64::from(cols);
        prop_assume!(declared > CAP);
        let bytes = idx(&[n, rows, cols], &payload);
        let result = parse_idx(&bytes[..], 3, &small_cap());
        prop_assert!(
            matches!(result, Err(IdxErrorKind::TooLarge { declared: d, max: CAP, .. }) if d == declared),
            "{:?}", result
        );
    }

    #[test]
    fn arbitrary_gzip_never_yields_or_reads_more_than_cap(
        dims in proptest::collection::vec(0u32..200, 1..4),
        data in blob(),
    ) {
        let raw = idx(&dims, &data);
        let gz = gzip(&raw);

        let result = read_idx_bytes("g.gz", &gz, true, dims.len(), &small_cap());
        if let Ok(arr) = &result {
            prop_assert!(arr.data.len() as u64 <= CAP);
        }

        // What the parser pulls out of the decoder: header + at most cap + 1 payload bytes.
        let mut reader = Counting { inner: flate2::read::GzDecoder::new(&gz[..]), count: 0 };
        let result = parse_idx(&mut reader, dims.len(), &small_cap());
        if let Ok(arr) = &result {
            prop_assert!(arr.data.len() as u64 <= CAP);
        }
        prop_assert!(reader.count <= 4 + 4 * dims.len() as u64 + CAP + 1,
            "read {} bytes", reader.count);
    }
}
