//! Per-call audio recording: two WAV files per call, the caller and the
//! agent, in the leg's own codec (G.711 or PCM16, which WAV carries as is).
//!
//! The call task never waits on the disk: chunks go through a bounded
//! channel to a writer task, and a chunk that finds the channel full is
//! counted as dropped rather than slowing the call. The WAV sizes are
//! written when the call ends.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio::sync::mpsc;
use turngate_audio::AudioFormat;

/// Chunks waiting for the disk per call.
const QUEUE: usize = 512;

/// Which side of the call a chunk is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Caller,
    Agent,
}

/// The recording of one call.
#[derive(Debug)]
pub(crate) struct Recording {
    sender: mpsc::Sender<(Side, Vec<u8>)>,
    dropped: Arc<AtomicU64>,
}

impl Recording {
    /// Starts recording into `dir`; `None` when `dir` is empty.
    pub(crate) fn start(dir: &str, call_id: &str, format: AudioFormat) -> Option<Recording> {
        if dir.is_empty() {
            return None;
        }
        let safe: String = call_id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
            .collect();
        let base = Path::new(dir).join(safe);
        let (sender, receiver) = mpsc::channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        tokio::spawn(write(base, format, receiver));
        Some(Recording { sender, dropped })
    }

    /// Queues a chunk; never waits.
    pub(crate) fn push(&self, side: Side, payload: &[u8]) {
        if self.sender.try_send((side, payload.to_vec())).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Chunks that found the queue full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The file names of a call's recording.
pub(crate) fn paths(base: &Path) -> (PathBuf, PathBuf) {
    let with = |suffix: &str| {
        let mut name = base.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    (with("-caller.wav"), with("-agent.wav"))
}

async fn write(base: PathBuf, format: AudioFormat, mut receiver: mpsc::Receiver<(Side, Vec<u8>)>) {
    let (caller_path, agent_path) = paths(&base);
    let (Ok(mut caller), Ok(mut agent)) =
        (tokio::fs::File::create(&caller_path).await, tokio::fs::File::create(&agent_path).await)
    else {
        tracing::warn!(path = %base.display(), "cannot create the call's recording files");
        return;
    };
    let header = wav_header(format, 0);
    if caller.write_all(&header).await.is_err() || agent.write_all(&header).await.is_err() {
        return;
    }
    let (mut caller_bytes, mut agent_bytes) = (0u64, 0u64);
    while let Some((side, payload)) = receiver.recv().await {
        let (file, count) = match side {
            Side::Caller => (&mut caller, &mut caller_bytes),
            Side::Agent => (&mut agent, &mut agent_bytes),
        };
        if file.write_all(&payload).await.is_err() {
            tracing::warn!(path = %base.display(), "writing the call's recording failed");
            return;
        }
        *count += payload.len() as u64;
    }
    // The call ended (its sender is gone): write the real sizes.
    for (file, bytes) in [(&mut caller, caller_bytes), (&mut agent, agent_bytes)] {
        let header = wav_header(format, bytes);
        if file.seek(std::io::SeekFrom::Start(0)).await.is_ok() {
            let _ = file.write_all(&header).await;
        }
        let _ = file.flush().await;
    }
}

/// A 44-byte RIFF/WAVE header for `data_bytes` of audio in `format`.
pub(crate) fn wav_header(format: AudioFormat, data_bytes: u64) -> [u8; 44] {
    let data = u32::try_from(data_bytes).unwrap_or(u32::MAX - 36);
    let (code, bits): (u16, u16) = match format {
        AudioFormat::Ulaw => (7, 8),
        AudioFormat::Alaw => (6, 8),
        AudioFormat::Pcm16(_) => (1, 16),
    };
    let rate = format.sample_rate().hz();
    let block = bits / 8;
    let mut header = [0u8; 44];
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        for byte in bytes {
            if let Some(slot) = header.get_mut(at) {
                *slot = *byte;
            }
            at += 1;
        }
    };
    put(b"RIFF");
    put(&(36 + data).to_le_bytes());
    put(b"WAVEfmt ");
    put(&16u32.to_le_bytes());
    put(&code.to_le_bytes());
    put(&1u16.to_le_bytes());
    put(&rate.to_le_bytes());
    put(&(rate * u32::from(block)).to_le_bytes());
    put(&block.to_le_bytes());
    put(&bits.to_le_bytes());
    put(b"data");
    put(&data.to_le_bytes());
    header
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use turngate_audio::{AudioFormat, SampleRate};

    use super::{Recording, Side, paths, wav_header};

    #[test]
    fn headers_describe_the_codec_and_the_size() {
        let header = wav_header(AudioFormat::Ulaw, 8000);
        assert_eq!(&header[0..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(header[4..8].try_into().unwrap()), 8036);
        assert_eq!(u16::from_le_bytes(header[20..22].try_into().unwrap()), 7);
        assert_eq!(u32::from_le_bytes(header[24..28].try_into().unwrap()), 8000);
        assert_eq!(u32::from_le_bytes(header[40..44].try_into().unwrap()), 8000);
        let pcm = wav_header(AudioFormat::Pcm16(SampleRate::Hz16000), 320);
        assert_eq!(u16::from_le_bytes(pcm[20..22].try_into().unwrap()), 1);
        assert_eq!(u32::from_le_bytes(pcm[28..32].try_into().unwrap()), 32_000);
        assert_eq!(u16::from_le_bytes(pcm[34..36].try_into().unwrap()), 16);
    }

    #[tokio::test]
    async fn both_sides_are_written_and_sized_when_the_call_ends() {
        let dir = std::env::temp_dir().join(format!("turngate-recording-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let recording = Recording::start(dir.to_str().unwrap(), "CA/1", AudioFormat::Ulaw).unwrap();
        recording.push(Side::Caller, &[0xFF; 160]);
        recording.push(Side::Caller, &[0xFF; 160]);
        recording.push(Side::Agent, &[0x7F; 80]);
        assert_eq!(recording.dropped(), 0);
        drop(recording);
        let (caller, agent) = paths(&dir.join("CA_1"));
        let mut waited = Duration::ZERO;
        while std::fs::metadata(&agent).map_or(true, |m| m.len() < 44 + 80)
            && waited < Duration::from_secs(5)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
            waited += Duration::from_millis(20);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let caller = std::fs::read(caller).unwrap();
        let agent = std::fs::read(agent).unwrap();
        assert_eq!(caller.len(), 44 + 320);
        assert_eq!(u32::from_le_bytes(caller[40..44].try_into().unwrap()), 320);
        assert_eq!(agent.len(), 44 + 80);
        assert_eq!(u32::from_le_bytes(agent[40..44].try_into().unwrap()), 80);
    }
}
