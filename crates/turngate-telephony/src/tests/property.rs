//! Random bytes and JSON-ish mutations of real frames into every decoder.
//!
//! The same harness as the fuzz targets (`transport::fuzz`), driven by a
//! small seeded generator so that it runs in the normal suite, the same way
//! every time. `TURNGATE_PROPERTY_CASES` raises the number of cases and
//! `TURNGATE_PROPERTY_SEED` changes the seed, for a longer local run.

use serde_json::Value;

use super::replay::fixture;

/// xorshift64*: small, seedable, good enough to shake a parser.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn cases() -> usize {
    std::env::var("TURNGATE_PROPERTY_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1500)
}

fn seed() -> u64 {
    std::env::var("TURNGATE_PROPERTY_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x7475_726e_6761_7465)
}

/// The frames a provider's transcripts send, as seeds for mutation.
fn corpus(provider: &str) -> Vec<String> {
    let mut frames = Vec::new();
    let dir = fixture(provider);
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for line in text.lines().filter(|l| l.starts_with('{')) {
            let value: Value = serde_json::from_str(line).unwrap();
            for key in ["in", "webhook"] {
                match value.get(key) {
                    Some(Value::String(raw)) => frames.push(raw.clone()),
                    Some(frame) => frames.push(frame.to_string()),
                    None => {}
                }
            }
        }
    }
    assert!(!frames.is_empty(), "no frames in {}", dir.display());
    frames
}

const JSONISH: &[u8] = b"{}[]\":,.-+0123456789eE truefalsnul\\/abcdefxyzADMS\n\t\x00\xff";

/// One random edit of a JSON text: the kind of damage a broken peer does.
fn mutate(rng: &mut Rng, text: &str) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..=rng.below(3) {
        let at = rng.below(bytes.len());
        match rng.below(8) {
            0 => {
                bytes.truncate(at);
            }
            1 if !bytes.is_empty() => {
                bytes.remove(at.min(bytes.len() - 1));
            }
            2 => bytes.insert(at, JSONISH[rng.below(JSONISH.len())]),
            3 if !bytes.is_empty() => {
                let i = at.min(bytes.len() - 1);
                bytes[i] = JSONISH[rng.below(JSONISH.len())];
            }
            4 => {
                // Duplicate a span (repeated keys, nested garbage).
                let end = (at + rng.below(40)).min(bytes.len());
                let span = bytes[at..end].to_vec();
                bytes.splice(at..at, span);
            }
            5 => {
                // Swap a string value for something of another type.
                let replacement: &[u8] =
                    [&b"null"[..], b"123", b"-1", b"[]", b"{}", b"\"\"", b"1e999", b"\"\\ud800\""]
                        [rng.below(8)];
                if let Some(quote) = bytes.iter().skip(at).position(|b| *b == b'"') {
                    let start = at + quote;
                    let end = bytes
                        .iter()
                        .skip(start + 1)
                        .position(|b| *b == b'"')
                        .map_or(bytes.len(), |p| start + p + 2);
                    bytes.splice(start..end.min(bytes.len()), replacement.iter().copied());
                }
            }
            6 => {
                let noise = rng.bytes(16);
                bytes.splice(at..at, noise);
            }
            _ => {}
        }
    }
    bytes
}

/// Builds a harness input: a flag byte, then frames and commands separated
/// by newlines (see `transport::fuzz`).
fn session(rng: &mut Rng, corpus: &[String]) -> Vec<u8> {
    let mut data = vec![(rng.next() as u8) | u8::from(rng.below(4) != 0)];
    for _ in 0..rng.below(12) {
        match rng.below(10) {
            0 => data.extend_from_slice(b"!p"),
            1 => data.extend_from_slice(b"!c"),
            2 => data.extend_from_slice(&[b'!', b't', rng.next() as u8]),
            3 => data.extend_from_slice(&[b'!', b'e', rng.next() as u8]),
            4 => data.extend_from_slice(&[b'!', b'r', rng.next() as u8]),
            5 => data.extend(rng.bytes(64).into_iter().filter(|b| *b != b'\n')),
            6..=7 => data.extend_from_slice(corpus[rng.below(corpus.len())].as_bytes()),
            _ => {
                let seed = &corpus[rng.below(corpus.len())];
                data.extend(mutate(rng, seed).into_iter().filter(|b| *b != b'\n'));
            }
        }
        if rng.below(3) == 0 {
            data.extend(rng.bytes(900).into_iter().filter(|b| *b != b'\n'));
            data.push(b'\n');
            data.extend_from_slice(b"!p");
        }
        data.push(b'\n');
    }
    data
}

fn shake(provider: &str, run: fn(&[u8]) -> [usize; 3]) {
    let corpus = corpus(provider);
    let mut rng = Rng(seed() ^ provider.len() as u64);
    let mut reached = [0; 3];
    for _ in 0..cases() {
        // Pure noise, then realistic sessions with damaged frames.
        run(&rng.bytes(256));
        let [audio, marks, frames] = run(&session(&mut rng, &corpus));
        reached = [reached[0] + audio, reached[1] + marks, reached[2] + frames];
    }
    // Damage must not keep the test at the parsers' door: the sessions
    // have to reach caller audio, playout marks and outbound frames.
    assert!(reached.iter().all(|n| *n > 0), "{provider}: reached {reached:?}");
    eprintln!("{provider}: caller audio, marks, frames out reached: {reached:?}");
}

#[cfg(feature = "twilio")]
#[test]
fn twilio_decoder_survives_random_and_mutated_frames() {
    shake("twilio", crate::twilio::fuzz_frames);
}

#[cfg(feature = "telnyx")]
#[test]
fn telnyx_decoder_survives_random_and_mutated_frames() {
    shake("telnyx", crate::telnyx::fuzz_frames);
}

#[cfg(feature = "telnyx")]
#[test]
fn telnyx_webhook_decoder_survives_random_and_mutated_bodies() {
    let corpus = corpus("telnyx");
    let mut rng = Rng(seed() ^ 0x5eed);
    for _ in 0..cases() {
        crate::telnyx::fuzz_webhook(&rng.bytes(300));
        let seed = &corpus[rng.below(corpus.len())];
        let body = mutate(&mut rng, seed);
        let mut data =
            format!("{}\n{}\n", 1_700_000_000 + rng.below(600), "A".repeat(rng.below(100)))
                .into_bytes();
        data.extend(body);
        crate::telnyx::fuzz_webhook(&data);
    }
}

#[cfg(feature = "audiocodes")]
#[test]
fn audiocodes_decoder_survives_random_and_mutated_frames() {
    shake("audiocodes", crate::audiocodes::fuzz_frames);
}

#[cfg(feature = "twilio")]
#[test]
fn twilio_signature_and_twiml_survive_random_input() {
    let mut rng = Rng(seed() ^ 0x7711);
    let validator = crate::twilio::RequestValidator::new("token");
    for _ in 0..cases() {
        let text = |rng: &mut Rng| String::from_utf8_lossy(&rng.bytes(80)).into_owned();
        let (url, name, value, signature) =
            (text(&mut rng), text(&mut rng), text(&mut rng), text(&mut rng));
        let url = if rng.below(2) == 0 { format!("https://{url}") } else { url };
        assert!(validator.validate(&url, &[(&name, &value)], Some(&signature)).is_err());
        assert!(validator.validate_json(&url, name.as_bytes(), Some(&signature)).is_err());
        assert!(validator.validate_upgrade(&url, Some(&signature)).is_err());
        let stream = crate::twilio::ConnectStream::new(format!("wss://{}", url.replace('?', "")))
            .parameter(name, value);
        if let Ok(twiml) = stream.render() {
            assert!(twiml.starts_with("<?xml") && twiml.ends_with("</Response>"));
        }
    }
}

/// Inputs the fuzzers found that once broke a rule, replayed in every run.
#[cfg(feature = "audiocodes")]
#[test]
fn audiocodes_fuzzer_findings_stay_fixed() {
    let found: &[&[u8]] = &[include_bytes!(
        "../../../../fuzz/seeds/audiocodes_frame/regression-flushed-more-than-sent"
    )];
    for input in found {
        crate::audiocodes::fuzz_frames(input);
    }
}
