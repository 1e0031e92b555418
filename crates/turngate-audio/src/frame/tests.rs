use std::num::NonZeroUsize;

use super::Framer;
use crate::{AudioFormat, SampleRate, ulaw};

/// Pushes `chunks` and collects every frame in order.
fn frames_of(framer: &mut Framer<u8>, chunks: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    for chunk in chunks {
        framer.push(chunk);
        while let Some(frame) = framer.next_frame() {
            frames.push(frame.to_vec());
        }
    }
    frames
}

fn framer(len: usize) -> Framer<u8> {
    Framer::new(NonZeroUsize::new(len).unwrap())
}

#[test]
fn chunks_of_any_size_become_whole_frames() {
    let stream: Vec<u8> = (0..=255).cycle().take(1_000).collect();
    // Table: chunk sizes to cut the stream into.
    for sizes in [vec![1], vec![3], vec![4], vec![7, 1, 13], vec![160], vec![999], vec![1_000]] {
        let mut chunks = Vec::new();
        let mut rest = stream.as_slice();
        for &size in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at(size.min(rest.len()));
            chunks.push(chunk);
            rest = tail;
        }
        let mut framer = framer(4);
        let frames = frames_of(&mut framer, &chunks);
        assert_eq!(frames.len(), 250, "sizes {sizes:?}");
        assert_eq!(frames.concat(), stream, "sizes {sizes:?}");
        assert_eq!(framer.pending(), 0);
        assert_eq!(framer.flush(), None);
    }
}

#[test]
fn the_partial_frame_waits_for_the_next_chunk() {
    let mut framer = framer(4);
    framer.push(&[1, 2, 3]);
    assert_eq!(framer.next_frame(), None);
    assert_eq!(framer.pending(), 3);
    framer.push(&[4, 5]);
    assert_eq!(framer.next_frame(), Some(&[1, 2, 3, 4][..]));
    assert_eq!(framer.next_frame(), None);
    framer.push(&[]);
    assert_eq!(framer.next_frame(), None);
    assert_eq!(framer.flush(), Some(&[5][..]));
    assert_eq!(framer.flush(), None, "flush empties the framer");
    assert_eq!(framer.pending(), 0);
}

#[test]
fn flush_padded_completes_the_last_frame() {
    let mut framer = Framer::for_format(AudioFormat::Ulaw);
    framer.push(&[0x10; 170]);
    assert_eq!(framer.next_frame().map(<[u8]>::len), Some(160));
    let tail = framer.flush_padded(ulaw::SILENCE).unwrap().to_vec();
    assert_eq!(tail.len(), 160);
    assert_eq!(tail[..10], [0x10; 10]);
    assert!(tail[10..].iter().all(|&b| b == ulaw::SILENCE));
    assert_eq!(framer.flush_padded(ulaw::SILENCE), None);
}

#[test]
fn odd_pcm16_bytes_are_carried_over() {
    let mut framer = Framer::for_format(AudioFormat::Pcm16(SampleRate::Hz8000));
    assert_eq!(framer.frame_len(), 320);
    let frames = frames_of(&mut framer, &[&[1; 319], &[2; 1], &[3; 1]]);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].len(), 320);
    assert_eq!(frames[0][319], 2);
    assert_eq!(framer.pending(), 1, "the odd byte waits for its partner");
}

#[test]
fn frame_lengths_follow_the_format() {
    let cases = [
        (AudioFormat::Ulaw, 160),
        (AudioFormat::Alaw, 160),
        (AudioFormat::Pcm16(SampleRate::Hz8000), 320),
        (AudioFormat::Pcm16(SampleRate::Hz16000), 640),
        (AudioFormat::Pcm16(SampleRate::Hz24000), 960),
    ];
    for (format, len) in cases {
        assert_eq!(Framer::for_format(format).frame_len(), len, "{format:?}");
    }
    assert_eq!(Framer::for_rate(SampleRate::Hz24000).frame_len(), 480);
}

#[test]
fn sample_framers_work_the_same() {
    let mut framer = Framer::for_rate(SampleRate::Hz8000);
    let samples: Vec<i16> = (0..500).collect();
    framer.push(&samples[..100]);
    assert!(framer.next_frame().is_none());
    framer.push(&samples[100..]);
    assert_eq!(framer.next_frame(), Some(&samples[..160]));
    assert_eq!(framer.next_frame(), Some(&samples[160..320]));
    assert_eq!(framer.next_frame(), Some(&samples[320..480]));
    assert_eq!(framer.next_frame(), None);
    framer.clear();
    assert_eq!(framer.pending(), 0);
    assert_eq!(framer.flush(), None);
}

#[test]
fn no_reallocation_after_warm_up() {
    let mut framer = framer(160);
    let chunk_sizes = [1, 77, 160, 161, 333, 20, 159];
    let data = [0x55_u8; 333];
    // Warm up with the largest chunk once, then run thousands of chunks.
    framer.push(&data);
    while framer.next_frame().is_some() {}
    let (pointer, capacity) = (framer.buffer.as_ptr(), framer.buffer.capacity());
    let mut frames = 0;
    let mut pushed = 0;
    for round in 0..5_000 {
        let size = chunk_sizes[round % chunk_sizes.len()];
        framer.push(&data[..size]);
        pushed += size;
        while framer.next_frame().is_some() {
            frames += 1;
        }
        assert_eq!(framer.buffer.as_ptr(), pointer, "round {round}");
        assert_eq!(framer.buffer.capacity(), capacity, "round {round}");
    }
    assert_eq!(frames, pushed / 160);
}
