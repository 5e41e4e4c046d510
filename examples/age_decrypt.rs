//! Decrypts an age file the way `lifeboat recover` does ([`lifeboat::recovery::decrypt_copy`]),
//! reading it in the pipeline's 1 MiB chunks: the Lifeboat half of the age decryption comparison
//! in `scripts/bench.sh` (the other half is `age -d` on the same file).
//!
//!   cargo run --release --example age_decrypt -- <identity file> <input> <output>

use std::io::{Read, Write};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(identity), Some(input), Some(output)) = (args.next(), args.next(), args.next())
    else {
        anyhow::bail!("usage: age_decrypt <identity file> <input> <output>");
    };
    let identities: Vec<age::x25519::Identity> = std::fs::read_to_string(identity)?
        .lines()
        .filter(|l| l.starts_with("AGE-SECRET-KEY-"))
        .map(|l| {
            l.parse()
                .map_err(|e| anyhow::anyhow!("not an age identity: {e}"))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut input = std::fs::File::open(input)?;
    let mut plain = lifeboat::recovery::decrypt_copy(&mut input, &identities)?;
    let mut output = std::io::BufWriter::new(std::fs::File::create(output)?);
    let mut buf = vec![0u8; lifeboat::pipeline::ship::CHUNK];
    loop {
        let n = plain.read(&mut buf)?;
        if n == 0 {
            break;
        }
        output.write_all(&buf[..n])?;
    }
    output.flush()?;
    Ok(())
}
