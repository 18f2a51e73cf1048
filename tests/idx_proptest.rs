//! Property tests of the IDX parser: arbitrary input never panics, valid files round-trip (dims, data and count
//! exactly), files that are almost valid fail with the right kind, and a small cap bounds both the output and what
//! is read.
//!
//! Random bytes almost never make a valid file, so the properties that check what a successful parse returns draw
//! from generators built to succeed most of the time (a valid header and a payload of the length it declares), and
//! count that they did.

use std::cell::Cell;

use gpu_mnist::data::{parse_idx, read_idx_bytes, IdxArray, IdxErrorKind, IdxLimits};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};

mod support;
use support::{gzip, idx, Counting};

/// 4 KiB: small enough that random headers often exceed it.
const CAP: u64 = 4096;

fn small_cap() -> IdxLimits {
    IdxLimits { max_bytes: CAP }
}

/// Dimensions of 0 to 4 axes whose product is at most [`CAP`]: mostly 3 (as images) or 1 (as labels), mostly
/// non-zero, the first and the last usually different (so a parser that mixes up their order is seen).
fn valid_dims() -> impl Strategy<Value = Vec<u32>> {
    prop_oneof![
        1 => Just(Vec::new()),
        3 => (0..=CAP as u32).prop_map(|n| vec![n]),
        2 => (1u32..64, 1u32..64).prop_map(|(a, b)| vec![a, b]),
        6 => (0u32..40, 1u32..=10, 1u32..=10).prop_map(|(n, r, c)| vec![n, r, c]),
        2 => vec(1u32..=8, 4),
    ]
}

/// A valid IDX file's dimensions, and a random payload of exactly the length they declare.
fn valid_file() -> impl Strategy<Value = (Vec<u32>, Vec<u8>)> {
    valid_dims().prop_flat_map(|dims| {
        let len: usize = dims.iter().map(|&d| d as usize).product();
        (Just(dims), vec(any::<u8>(), len))
    })
}

/// What is done to a valid file's payload: mostly nothing, sometimes a few bytes cut off or added.
#[derive(Clone, Debug)]
enum Change {
    Keep,
    Cut(usize),
    Extend(Vec<u8>),
}

/// Mostly [`Change::Keep`].
fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        6 => Just(Change::Keep),
        1 => (1usize..64).prop_map(Change::Cut),
        1 => vec(any::<u8>(), 1..64).prop_map(Change::Extend),
    ]
}

/// A dimension: usually small, sometimes any `u32` (so that the product passes the cap, or overflows).
fn any_dim() -> impl Strategy<Value = u32> {
    prop_oneof![9 => 0u32..20, 1 => any::<u32>()]
}

/// `00 00 08 ndims` and then arbitrary bytes: wholly random, or `ndims` big-endian dimensions and a random payload of
/// their product's length (give or take a few bytes), so that every outcome, success included, is common.
fn behind_magic() -> impl Strategy<Value = Vec<u8>> {
    let shaped = (0u8..=4).prop_flat_map(|ndims| {
        (vec(any_dim(), usize::from(ndims)), prop_oneof![4 => Just(0i64), 1 => -3i64..=3]).prop_flat_map(
            |(dims, delta)| {
                let declared = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(u64::from(d)));
                let len = match declared {
                    Some(n) if n <= CAP => (n as i64 + delta).max(0) as usize,
                    _ => delta.unsigned_abs() as usize,
                };
                (Just(dims), vec(any::<u8>(), len)).prop_map(|(dims, payload)| idx(&dims, &payload))
            },
        )
    });
    let random = (0u8..=4, vec(any::<u8>(), 0..256)).prop_map(|(ndims, rest)| {
        let mut bytes = vec![0, 0, 0x08, ndims];
        bytes.extend(rest);
        bytes
    });
    prop_oneof![3 => shaped, 1 => random]
}

/// What parsing an IDX stream that starts `00 00 08` must give, worked out from its bytes.
#[derive(Debug, PartialEq)]
enum Outcome {
    Parsed { dims: Vec<usize>, data: Vec<u8> },
    WrongDimCount { found: u8, expected: usize },
    TruncatedHeader { expected: usize, found: usize },
    DimsOverflow { dims: Vec<u32> },
    TooLarge { dims: Vec<u32>, declared: u64, max: u64 },
    TruncatedPayload { expected: u64, found: u64 },
    TrailingBytes { expected: u64 },
}

fn expected_outcome(bytes: &[u8], expected_dims: usize, cap: u64) -> Outcome {
    assert_eq!(bytes[..3], [0, 0, 0x08]);
    let ndims = bytes[3];
    if usize::from(ndims) != expected_dims {
        return Outcome::WrongDimCount { found: ndims, expected: expected_dims };
    }
    let header = 4 + 4 * usize::from(ndims);
    if bytes.len() < header {
        return Outcome::TruncatedHeader { expected: header, found: bytes.len() };
    }
    let dims: Vec<u32> = bytes[4..header].chunks_exact(4).map(|c| u32::from_be_bytes(c.try_into().unwrap())).collect();
    // Multiplied in order with checked arithmetic: a product that passes u64 on the way is an overflow.
    let Some(declared) = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(u64::from(d))) else {
        return Outcome::DimsOverflow { dims };
    };
    if declared > cap {
        return Outcome::TooLarge { dims, declared, max: cap };
    }
    let payload = &bytes[header..];
    let found = payload.len() as u64;
    match found.cmp(&declared) {
        std::cmp::Ordering::Less => Outcome::TruncatedPayload { expected: declared, found },
        std::cmp::Ordering::Greater => Outcome::TrailingBytes { expected: declared },
        std::cmp::Ordering::Equal => {
            Outcome::Parsed { dims: dims.iter().map(|&d| d as usize).collect(), data: payload.to_vec() }
        }
    }
}

/// What the parser gave, as an [`Outcome`] (kinds that cannot happen past a valid magic are failures).
fn outcome(result: Result<IdxArray, IdxErrorKind>) -> Result<Outcome, TestCaseError> {
    Ok(match result {
        Ok(IdxArray { dims, data }) => {
            // Whatever else is wrong, a parsed array holds as many bytes as its dims say, within the cap.
            prop_assert_eq!(data.len(), dims.iter().product::<usize>());
            prop_assert!(data.len() as u64 <= CAP);
            Outcome::Parsed { dims, data }
        }
        Err(IdxErrorKind::WrongDimCount { found, expected }) => Outcome::WrongDimCount { found, expected },
        Err(IdxErrorKind::TruncatedHeader { expected, found }) => Outcome::TruncatedHeader { expected, found },
        Err(IdxErrorKind::DimsOverflow { dims }) => Outcome::DimsOverflow { dims },
        Err(IdxErrorKind::TooLarge { dims, declared, max }) => Outcome::TooLarge { dims, declared, max },
        Err(IdxErrorKind::TruncatedPayload { expected, found }) => Outcome::TruncatedPayload { expected, found },
        Err(IdxErrorKind::TrailingBytes { expected }) => Outcome::TrailingBytes { expected },
        Err(other) => return Err(TestCaseError::fail(format!("unexpected error {other:?}"))),
    })
}

/// Parses `bytes` (starting `00 00 08`) raw and gzipped with the small cap, and checks both against
/// [`expected_outcome`]. Returns whether it parsed.
fn check_against_bytes(bytes: &[u8], expected_dims: usize) -> Result<bool, TestCaseError> {
    let want = expected_outcome(bytes, expected_dims, CAP);
    let raw = outcome(parse_idx(bytes, expected_dims, &small_cap()))?;
    prop_assert_eq!(&raw, &want, "raw");
    let gz = outcome(read_idx_bytes("p.gz", &gzip(bytes), true, expected_dims, &small_cap()).map_err(|e| e.kind))?;
    prop_assert_eq!(&gz, &want, "gzipped");
    Ok(matches!(want, Outcome::Parsed { .. }))
}

/// Runs `property` on proptest's number of cases (`PROPTEST_CASES`, 256 by default) of `strategy`, failing the test
/// with the smallest failing input; returns the number of cases and how many of them `property` said parsed.
fn run_counting<S: Strategy>(
    strategy: S,
    property: impl Fn(S::Value) -> Result<bool, TestCaseError>,
) -> (usize, usize) {
    let config = ProptestConfig { failure_persistence: None, ..ProptestConfig::default() };
    let cases = config.cases as usize;
    let parsed = Cell::new(0);
    let result = TestRunner::new(config).run(&strategy, |value| {
        if property(value)? {
            parsed.set(parsed.get() + 1);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    (cases, parsed.get())
}

#[test]
fn almost_valid_files_parse_exactly_or_fail_with_the_right_kind() {
    let (cases, parsed) = run_counting((valid_file(), change()), |((dims, mut payload), change)| {
        match change {
            Change::Keep => {}
            Change::Cut(n) => payload.truncate(payload.len().saturating_sub(n)),
            Change::Extend(more) => payload.extend(more),
        }
        check_against_bytes(&idx(&dims, &payload), dims.len())
    });
    println!("{parsed} of {cases} parsed");
    // Most cases reach the success path (whose dims, data and count are checked), not just the errors.
    assert!(cases < 64 || 2 * parsed >= cases, "only {parsed} of {cases} cases parsed");
}

#[test]
fn arbitrary_bytes_behind_a_valid_magic_parse_as_their_header_says() {
    let expected = prop_oneof![7 => Just(None), 1 => (0usize..=4).prop_map(Some)];
    let (cases, parsed) = run_counting((behind_magic(), expected), |(bytes, expected)| {
        check_against_bytes(&bytes, expected.unwrap_or(usize::from(bytes[3])))
    });
    println!("{parsed} of {cases} parsed");
    assert!(cases < 64 || 4 * parsed >= cases, "only {parsed} of {cases} cases parsed");
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
    fn a_valid_file_round_trips((dims, payload) in valid_file(), gzipped in any::<bool>(), cut in 1usize..64) {
        let declared = payload.len() as u64;
        let bytes = idx(&dims, &payload);
        let input = if gzipped { gzip(&bytes) } else { bytes.clone() };
        let want: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
        prop_assert_eq!(want.iter().product::<usize>(), payload.len());

        let fail = |e: &dyn std::fmt::Debug| TestCaseError::fail(format!("a valid file fails: {e:?}"));
        let arr = parse_idx(&bytes[..], dims.len(), &small_cap()).map_err(|e| fail(&e))?;
        prop_assert_eq!(&arr.dims, &want);
        prop_assert_eq!(&arr.data, &payload);
        // A cap of exactly the declared size still admits the file; one byte less does not.
        let exact = IdxLimits { max_bytes: declared };
        let arr = read_idx_bytes("v", &input, gzipped, dims.len(), &exact).map_err(|e| fail(&e))?;
        prop_assert_eq!(&arr.dims, &want);
        prop_assert_eq!(&arr.data, &payload);
        if declared > 0 {
            let below = IdxLimits { max_bytes: declared - 1 };
            let result = parse_idx(&bytes[..], dims.len(), &below);
            prop_assert!(matches!(&result, Err(IdxErrorKind::TooLarge { declared: d, .. }) if *d == declared),
                "{:?}", result);
        }
        // A gzip stream cut short never parses.
        if gzipped {
            let cut = cut.min(input.len());
            let result = read_idx_bytes("v.gz", &input[..input.len() - cut], true, dims.len(), &small_cap());
            prop_assert!(result.is_err(), "{:?}", result);
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
