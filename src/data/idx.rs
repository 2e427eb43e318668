//! The IDX file format (MNIST, Fashion-MNIST), raw or gzipped.
//!
//! Format: two zero bytes, a type byte (0x08: unsigned bytes), the number of
//! dimensions, then each dimension as a big-endian u32, then the payload. The reader
//! checks the header against the payload before allocating, so a corrupt or hostile
//! file is an error, never a panic or a huge allocation.

use std::io::Read;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Files larger than this (after decompression) are refused: MNIST's largest is 47 MB.
pub const MAX_IDX_BYTES: u64 = 512 << 20;

/// Why an IDX file could not be read.
#[derive(Debug, Error)]
pub enum IdxError {
    /// The file could not be opened or read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The gzip stream is corrupt.
    #[error("{path}: the gzip data is corrupt: {source}")]
    Gzip {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        source: std::io::Error,
    },
    /// The first bytes are not an IDX header.
    #[error("{path}: not an IDX file (magic bytes {magic:02x?}; expected 00 00 08 0N)")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The first four bytes.
        magic: Vec<u8>,
    },
    /// The header declares a type other than unsigned bytes.
    #[error("{path}: IDX element type 0x{code:02x} is not supported; only 0x08 (unsigned byte) is")]
    UnsupportedType {
        /// The file.
        path: PathBuf,
        /// The type code.
        code: u8,
    },
    /// The header's dimensions are impossible.
    #[error("{path}: impossible dimensions {dims:?} ({why})")]
    BadDims {
        /// The file.
        path: PathBuf,
        /// The dimensions read.
        dims: Vec<u64>,
        /// What is wrong with them.
        why: String,
    },
    /// The payload is shorter or longer than the header says.
    #[error("{path}: the header promises {expected} bytes of data but the file holds {found}{}", if found < expected { " (truncated file?)" } else { "" })]
    SizeMismatch {
        /// The file.
        path: PathBuf,
        /// Bytes the header promises.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// The file exceeds [`MAX_IDX_BYTES`].
    #[error("{path}: larger than {MAX_IDX_BYTES} bytes; not a dataset batchbench reads")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
}

/// An IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// Dimensions, outermost first (e.g. `[60000, 28, 28]`).
    pub dims: Vec<usize>,
    /// The payload, row-major.
    pub data: Vec<u8>,
}

/// The dimensions in an IDX file's header, reading only the header (through gzip
/// when the file is compressed): cheap enough for `validate`.
pub fn read_idx_dims(path: &Path) -> Result<Vec<usize>, IdxError> {
    let io = |source| IdxError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut head = [0u8; 2];
    let n = file.read(&mut head).map_err(io)?;
    drop(file);
    let file = std::fs::File::open(path).map_err(io)?;
    let reader: Box<dyn Read> = if n == 2 && head == [0x1f, 0x8b] {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    // 4 magic bytes and at most 4 dimensions of 4 bytes each.
    let mut header = Vec::with_capacity(20);
    reader
        .take(20)
        .read_to_end(&mut header)
        .map_err(|source| IdxError::Gzip {
            path: path.to_path_buf(),
            source,
        })?;
    if header.len() < 4 || header[0] != 0 || header[1] != 0 {
        return Err(IdxError::BadMagic {
            path: path.to_path_buf(),
            magic: header[..header.len().min(4)].to_vec(),
        });
    }
    let ndims = header[3] as usize;
    if ndims == 0 || ndims > 4 || header.len() < 4 + 4 * ndims {
        return Err(IdxError::BadDims {
            path: path.to_path_buf(),
            dims: vec![],
            why: format!("{ndims} dimensions in a header of {} bytes", header.len()),
        });
    }
    Ok(header[4..4 + 4 * ndims]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect())
}

/// Reads a raw or gzipped IDX file (gzip is detected by its magic bytes).
pub fn read_idx(path: &Path) -> Result<IdxArray, IdxError> {
    let io = |source| IdxError::Io {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_IDX_BYTES {
        return Err(IdxError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    parse_idx(path, &bytes)
}

/// Parses IDX bytes (raw or gzipped); `path` names the file in errors.
///
/// The header is read first and checked; then exactly the promised payload (plus one
/// byte, to detect trailing data) is read. Memory is bounded by the declared size,
/// itself bounded by [`MAX_IDX_BYTES`], so a gzip bomb cannot exhaust memory.
pub fn parse_idx(path: &Path, bytes: &[u8]) -> Result<IdxArray, IdxError> {
    if bytes.len() as u64 > MAX_IDX_BYTES {
        return Err(IdxError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let gzipped = bytes.starts_with(&[0x1f, 0x8b]);
    let mut reader: Box<dyn Read> = if gzipped {
        Box::new(flate2::read::GzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    };
    let read_err = |source: std::io::Error| -> IdxError {
        if gzipped {
            IdxError::Gzip {
                path: path.to_path_buf(),
                source,
            }
        } else {
            IdxError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    };
    // Fill `buf` as far as the stream allows; returns how much was read.
    let mut fill = |buf: &mut [u8]| -> Result<usize, IdxError> {
        let mut n = 0;
        while n < buf.len() {
            match reader.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(read_err(e)),
            }
        }
        Ok(n)
    };
    let path_buf = || path.to_path_buf();
    let mut magic = [0u8; 4];
    let got = fill(&mut magic)?;
    if got < 4 || magic[0] != 0 || magic[1] != 0 {
        return Err(IdxError::BadMagic {
            path: path_buf(),
            magic: magic[..got].to_vec(),
        });
    }
    if magic[2] != 0x08 {
        return Err(IdxError::UnsupportedType {
            path: path_buf(),
            code: magic[2],
        });
    }
    let ndims = magic[3] as usize;
    if ndims == 0 || ndims > 4 {
        return Err(IdxError::BadDims {
            path: path_buf(),
            dims: vec![],
            why: format!("{ndims} dimensions; expected 1 to 4"),
        });
    }
    let mut header = vec![0u8; 4 * ndims];
    let got = fill(&mut header)?;
    if got < header.len() {
        return Err(IdxError::SizeMismatch {
            path: path_buf(),
            expected: (4 + header.len()) as u64,
            found: (4 + got) as u64,
        });
    }
    let dims: Vec<u64> = header
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as u64)
        .collect();
    let bad = |why: &str| IdxError::BadDims {
        path: path_buf(),
        dims: dims.clone(),
        why: why.to_string(),
    };
    if dims.contains(&0) {
        return Err(bad("a dimension is zero"));
    }
    let expected = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_IDX_BYTES)
        .ok_or_else(|| bad("their product exceeds the size limit"))?;
    let mut data = vec![0u8; expected as usize + 1];
    let found = fill(&mut data)? as u64;
    if found != expected {
        // Count what remains of a longer payload only up to the limit.
        let extra = if found > expected {
            1 + std::io::copy(&mut reader.take(MAX_IDX_BYTES), &mut std::io::sink())
                .map_err(read_err)?
        } else {
            0
        };
        return Err(IdxError::SizeMismatch {
            path: path_buf(),
            expected,
            found: found.min(expected) + extra,
        });
    }
    data.truncate(expected as usize);
    Ok(IdxArray {
        dims: dims.iter().map(|&d| d as usize).collect(),
        data,
    })
}

/// Encodes an array as raw IDX bytes (for tests and fixtures).
pub fn encode_idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn p() -> &'static Path {
        Path::new("f.idx")
    }

    #[test]
    fn reads_raw_and_gzipped_images() {
        let data: Vec<u8> = (0..2 * 3 * 3).collect();
        let raw = encode_idx(&[2, 3, 3], &data);
        let a = parse_idx(p(), &raw).unwrap();
        assert_eq!(a.dims, vec![2, 3, 3]);
        assert_eq!(a.data, data);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        let b = parse_idx(p(), &gz.finish().unwrap()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn wrong_magic_is_an_error() {
        let mut raw = encode_idx(&[2], &[1, 2]);
        raw[0] = 0x50;
        let e = parse_idx(p(), &raw).unwrap_err();
        assert!(matches!(e, IdxError::BadMagic { .. }), "{e}");
        assert!(e.to_string().contains("not an IDX file"));
    }

    #[test]
    fn float_type_is_unsupported() {
        let mut raw = encode_idx(&[1], &[0, 0, 0, 0]);
        raw[2] = 0x0d;
        let e = parse_idx(p(), &raw).unwrap_err();
        assert!(e.to_string().contains("0x0d is not supported"), "{e}");
    }

    #[test]
    fn truncated_payload_is_reported_with_sizes() {
        let raw = encode_idx(&[10, 28, 28], &[0; 100]);
        let e = parse_idx(p(), &raw).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.idx: the header promises 7840 bytes of data but the file holds 100 (truncated file?)"
        );
    }

    #[test]
    fn truncated_header_is_an_error() {
        let raw = vec![0, 0, 8, 3, 0, 0];
        assert!(matches!(
            parse_idx(p(), &raw).unwrap_err(),
            IdxError::SizeMismatch { .. }
        ));
    }

    #[test]
    fn huge_dimensions_do_not_allocate() {
        let raw = encode_idx(&[u32::MAX, u32::MAX, u32::MAX], &[]);
        let e = parse_idx(p(), &raw).unwrap_err();
        assert!(e.to_string().contains("exceeds the size limit"), "{e}");
    }

    #[test]
    fn zero_dimension_is_an_error() {
        let raw = encode_idx(&[0, 28], &[]);
        assert!(
            parse_idx(p(), &raw)
                .unwrap_err()
                .to_string()
                .contains("zero")
        );
    }

    #[test]
    fn a_gzip_bomb_is_refused_after_the_promised_bytes() {
        // Header says 2×2 bytes; the stream inflates to 64 MiB of zeros.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&encode_idx(&[2, 2], &[1, 2, 3, 4])).unwrap();
        gz.write_all(&vec![0u8; 64 << 20]).unwrap();
        let e = parse_idx(p(), &gz.finish().unwrap()).unwrap_err();
        assert!(
            matches!(e, IdxError::SizeMismatch { expected: 4, .. }),
            "{e}"
        );
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let e = parse_idx(p(), &[0x1f, 0x8b, 8, 0, 1, 2, 3]).unwrap_err();
        assert!(matches!(e, IdxError::Gzip { .. }), "{e}");
    }
}
