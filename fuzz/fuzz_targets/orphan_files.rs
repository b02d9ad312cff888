//! Fuzz target: arbitrary bytes as a client's call log and identity file
//! (`rpc_runtime::client::orphans`), the files a client reads back after a crash.
//!
//! Both formats checksum every record, which random bytes never match; so besides raw
//! input, the target seals input into valid frames itself, to reach the decoders behind
//! the checksums. The first byte picks:
//!
//! - bit 0: the identity file (`__parse_identity`) or the call log (`__parse_log`);
//! - bit 1: prepend the file's header to the rest of the input;
//! - bit 2: seal: for the log, the rest is segments `[tag, n, n bytes]`, an even tag
//!   making the bytes a frame's body (with a valid checksum), an odd one raw bytes; for
//!   the identity, the rest is the body of a file with a valid length and checksum;
//! - bits 3-5: how many bytes each read of the log returns (1 to 4,096, or all).
//!
//! What must hold: no panic, no huge allocation; reading the log in small reads finds
//! what reading it whole finds; what a log leaves open, written back as a log, reads
//! back the same; an identity's canonical encoding decodes to itself.

#![no_main]

use std::io::{self, Read};

use libfuzzer_sys::fuzz_target;
use rpc_runtime::client::orphans::{__encode_log, __parse_identity, __parse_log};
use xxhash_rust::xxh3::xxh3_64;

const LOG_HEADER: &[u8] = b"rpc-log\x01";
const IDENTITY_HEADER: &[u8] = b"rpc-inc\x01";
const FRAME_MAGIC: [u8; 2] = [0xA5, 0x4C];
const STEPS: [usize; 8] = [1, 2, 3, 5, 7, 13, 4096, usize::MAX];

/// Returns at most `step` bytes per read.
struct Chunked<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn seal_log(mut rest: &[u8], out: &mut Vec<u8>) {
    while let [tag, n, tail @ ..] = rest {
        let n = (*n as usize).min(tail.len());
        let (bytes, tail) = tail.split_at(n);
        if tag % 2 == 0 {
            let start = out.len();
            out.extend_from_slice(&FRAME_MAGIC);
            out.extend_from_slice(&(n as u16).to_le_bytes());
            out.extend_from_slice(bytes);
            let sum = xxh3_64(&out[start..]);
            out.extend_from_slice(&sum.to_le_bytes());
        } else {
            out.extend_from_slice(bytes);
        }
        rest = tail;
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&first, rest)) = input.split_first() else {
        return;
    };
    let header = first & 2 != 0;
    let seal = first & 4 != 0;
    if first & 1 != 0 {
        let mut image = Vec::new();
        if header {
            image.extend_from_slice(IDENTITY_HEADER);
        }
        if seal {
            image.extend_from_slice(&(rest.len() as u32).to_le_bytes());
            image.extend_from_slice(rest);
            let sum = xxh3_64(&image);
            image.extend_from_slice(&sum.to_le_bytes());
        } else {
            image.extend_from_slice(rest);
        }
        if let Ok(canonical) = __parse_identity(&image) {
            assert_eq!(__parse_identity(&canonical).ok(), Some(canonical));
        }
        return;
    }

    let mut image = Vec::new();
    if header {
        image.extend_from_slice(LOG_HEADER);
    }
    if seal {
        seal_log(rest, &mut image);
    } else {
        image.extend_from_slice(rest);
    }
    let whole = __parse_log(&image[..]);
    let step = STEPS[usize::from(first >> 3 & 7)];
    let chunked = __parse_log(Chunked { data: &image, step });
    match (&whole, &chunked) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "reads of {step} bytes"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "reads of {step} bytes"),
        _ => panic!("reads of {step} bytes: {chunked:?}, whole: {whole:?}"),
    }
    if let Ok(calls) = whole {
        let again = __parse_log(&__encode_log(&calls)[..]).expect("a log image reads back");
        assert_eq!(again, calls);
    }
});
