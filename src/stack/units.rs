//! Sizes and durations as compose and the Docker engine read them, in one place.
//!
//! - Sizes: compose reads `mem_limit`, `deploy.resources.*.memory`, `shm_size` and the like with
//!   `RAMInBytes` of docker/go-units (`size.go`, commit 2bd057e), and the json-file log driver
//!   reads `max-size` with the same parser's decimal variant: a number (`1`, `1.5`), then an
//!   optional space, then an optional unit `b`, `k`, `m`, `g`, `t` or `p`, optionally followed
//!   by `b` or `ib`, in any case (`512m`, `1gb`, `1GiB`, `2 G`).
//! - Durations: compose reads `healthcheck.interval` and the other durations with Go's
//!   `time.ParseDuration` (go/src/time/format.go), and Traefik its durations the same way: one
//!   or more numbers each with a unit `ns`, `us` (`µs`, `μs`), `ms`, `s`, `m` or `h`
//!   (`1m30s`, `1.5h`, `300ms`); a lone `0` needs no unit.

use std::time::Duration;

/// A size in bytes as `RAMInBytes` reads it (binary units: `1k` is 1,024 bytes).
///
/// # Errors
/// The text compose would refuse, with the reason (`invalid size`, `invalid suffix`).
pub fn ram_in_bytes(text: &str) -> Result<u64, String> {
    let (number, suffix) = match text.split_once(' ') {
        Some(split) => split,
        None => {
            let Some(last) = text.rfind(|c: char| c.is_ascii_digit() || c == '.') else {
                return Err(format!("invalid size `{text}`: no number"));
            };
            text.split_at(last + 1)
        }
    };
    let size: f64 = go_float(number).ok_or_else(|| format!("invalid size `{text}`: `{number}` is not a number"))?;
    if size < 0.0 || size.is_nan() {
        return Err(format!("invalid size `{text}`: negative"));
    }
    let bad =
        || format!("invalid size `{text}`: unknown unit `{suffix}` (b, k, m, g, t or p, optionally with b or ib)");
    let suffix = suffix.to_ascii_lowercase();
    let multiplier: f64 = match suffix.as_bytes() {
        [] | [b'b'] => 1.0,
        [unit, rest @ ..] => {
            let shift = match unit {
                b'k' => 10,
                b'm' => 20,
                b'g' => 30,
                b't' => 40,
                b'p' => 50,
                _ => return Err(bad()),
            };
            if !matches!(rest, [] | [b'b'] | [b'i', b'b']) {
                return Err(bad());
            }
            (1u64 << shift) as f64
        }
    };
    let bytes = size * multiplier;
    // Compose keeps sizes in a signed 64-bit integer (Go's int64): 2^63 bytes and more wrap
    // around to a negative size there.
    if bytes >= i64::MAX as f64 {
        return Err(format!("invalid size `{text}`: too large"));
    }
    Ok(bytes as u64)
}

/// A decimal number as Go's `strconv.ParseFloat` reads the forms compose files use: digits with
/// an optional fraction and exponent (`1`, `1.5`, `.5`, `1e3`). `None` for anything else.
fn go_float(text: &str) -> Option<f64> {
    let plain = !text.is_empty()
        && text.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        && text.chars().any(|c| c.is_ascii_digit());
    plain.then(|| text.parse().ok()).flatten()
}

/// A duration as Go's `time.ParseDuration` reads it; negative durations are refused (compose and
/// Traefik take none where stackfix writes one).
///
/// # Errors
/// The text Go would refuse, or a negative duration, with the reason.
pub fn go_duration(text: &str) -> Result<Duration, String> {
    let body = text.strip_prefix('+').unwrap_or(text);
    if body.starts_with('-') {
        return Err(format!("invalid duration `{text}`: negative"));
    }
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if body.is_empty() {
        return Err(format!("invalid duration `{text}`: empty"));
    }
    let mut nanos: f64 = 0.0;
    let mut rest = body;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number = &rest[..number_end];
        if !number.chars().any(|c| c.is_ascii_digit()) || number.matches('.').count() > 1 {
            return Err(format!("invalid duration `{text}`: expected a number at `{rest}`"));
        }
        rest = &rest[number_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale: f64 = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => {
                return Err(format!("invalid duration `{text}`: missing unit after `{number}` (ns, us, ms, s, m or h)"))
            }
            unit => return Err(format!("invalid duration `{text}`: unknown unit `{unit}` (ns, us, ms, s, m or h)")),
        };
        rest = &rest[unit_end..];
        let value: f64 = number.parse().map_err(|_| format!("invalid duration `{text}`: `{number}`"))?;
        nanos += value * scale;
    }
    // Go's limit: the largest int64 of nanoseconds (about 292 years).
    if nanos >= i64::MAX as f64 {
        return Err(format!("invalid duration `{text}`: too long"));
    }
    Ok(Duration::from_nanos(nanos as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_go_units_reads_them() {
        for (text, bytes) in [
            ("512", 512),
            ("512b", 512),
            ("1k", 1024),
            ("512m", 512 << 20),
            ("512M", 512 << 20),
            ("1gb", 1 << 30),
            ("1GB", 1 << 30),
            ("1GiB", 1 << 30),
            ("1gib", 1 << 30),
            ("2 G", 2 << 30),
            ("1.5g", 3 << 29),
            ("1t", 1 << 40),
            (".5k", 512),
        ] {
            assert_eq!(ram_in_bytes(text), Ok(bytes), "{text}");
        }
        for text in ["", "lots", "1x", "1gbb", "1gi", "1kib5", "-1m", "1mm", "g", "9000p", "8192p"] {
            assert!(ram_in_bytes(text).is_err(), "{text}");
        }
    }

    #[test]
    fn durations_as_go_reads_them() {
        for (text, ms) in [
            ("30s", 30_000),
            ("1m30s", 90_000),
            ("1.5h", 5_400_000),
            ("300ms", 300),
            (".5s", 500),
            ("2h45m", 9_900_000),
            ("0", 0),
            ("1000us", 1),
            ("1000\u{b5}s", 1),
        ] {
            assert_eq!(go_duration(text).map(|d| d.as_millis()), Ok(ms), "{text}");
        }
        for text in ["", "30", "1m30", "s", "1d", "-1s", "1..5s", "1 s", ".s", "2562048h", "9223372036854775808ns"] {
            assert!(go_duration(text).is_err(), "{text}");
        }
    }
}
