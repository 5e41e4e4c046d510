//! Encrypts a file with Lifeboat's age stream ([`lifeboat::crypto::age_stream`]), pushing it in
//! the pipeline's 1 MiB chunks, and writes the age file out: the Lifeboat half of the age
//! comparison in `scripts/bench.sh` (the other half is the `age` command on the same file).
//!
//!   cargo run --release --example age_encrypt -- <age1… recipient> <input> <output>

use lifeboat::config::EncryptionSpec;
use lifeboat::crypto::age_stream::StreamEncryptor;
use std::io::{Read, Write};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(recipient), Some(input), Some(output)) = (args.next(), args.next(), args.next())
    else {
        anyhow::bail!("usage: age_encrypt <age1… recipient> <input> <output>");
    };
    let recipient = recipient
        .parse::<age::x25519::Recipient>()
        .map_err(|e| anyhow::anyhow!("not an age recipient: {e}"))?;
    let mut enc = StreamEncryptor::new(&EncryptionSpec {
        recipients: vec![recipient],
        passphrase: None,
    })?;
    let mut input = std::fs::File::open(input)?;
    let mut output = std::io::BufWriter::new(std::fs::File::create(output)?);
    let mut buf = vec![0u8; lifeboat::pipeline::ship::CHUNK];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        output.write_all(&enc.push(&buf[..n])?)?;
    }
    output.write_all(&enc.finish()?)?;
    output.flush()?;
    Ok(())
}
