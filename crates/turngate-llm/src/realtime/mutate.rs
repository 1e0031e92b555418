//! Seeded mutations of a realistic session (bytes flipped, lines cut,
//! spliced, repeated), shared by the providers' property tests, so their
//! fuzz harnesses run on every `cargo test`, not only under libFuzzer.
//! `TURNGATE_PROPERTY_CASES` makes them run longer and
//! `TURNGATE_PROPERTY_SEED` replays a failure.

/// A small deterministic generator (xorshift), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Runs `harness` on mutations of `seed`; fails naming the case that panicked.
pub(crate) fn never_panics(seed: &str, harness: fn(&[u8]) -> usize) {
    let cases: usize =
        std::env::var("TURNGATE_PROPERTY_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(3000);
    let rng_seed: u64 = std::env::var("TURNGATE_PROPERTY_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0x5eed_1e55);
    let mut rng = Rng(rng_seed | 1);
    let base = seed.as_bytes().to_vec();
    for case in 0..cases {
        let mut data = base.clone();
        for _ in 0..1 + rng.below(8) {
            match rng.below(5) {
                0 => {
                    let at = rng.below(data.len());
                    if let Some(byte) = data.get_mut(at) {
                        *byte = rng.next() as u8;
                    }
                }
                1 => data.truncate(rng.below(data.len())),
                2 => {
                    let from = rng.below(data.len());
                    let to = (from + rng.below(200)).min(data.len());
                    let piece = data.get(from..to).map(<[u8]>::to_vec).unwrap_or_default();
                    let at = rng.below(data.len());
                    data.splice(at..at, piece);
                }
                3 => {
                    let at = rng.below(data.len());
                    data.insert(at, b'\n');
                }
                _ => {
                    let at = rng.below(data.len());
                    data.insert(at, [b'"', b'{', b'}', b':', b'0', b'-'][rng.below(6)]);
                }
            }
        }
        let outcome = std::panic::catch_unwind(|| harness(&data));
        assert!(
            outcome.is_ok(),
            "case {case} (TURNGATE_PROPERTY_SEED={rng_seed}) panicked on {:?}",
            String::from_utf8_lossy(&data)
        );
    }
}
