//! `batchbench data fetch NAME`: download a dataset from its canonical address and
//! verify every file's SHA-256 before it is used.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use super::spec::DatasetName;

/// A file to download: name, SHA-256 and the largest size accepted.
struct Resource {
    file: &'static str,
    sha256: &'static str,
    max_bytes: u64,
}

/// Canonical sources. Fashion-MNIST: Zalando's S3 bucket (its README's links);
/// MNIST: the mirror PyTorch uses, since yann.lecun.com no longer serves the files
/// reliably. The checksums are those published with the data (Fashion-MNIST's match
/// Debian's `dataset-fashion-mnist` package byte for byte).
fn resources(name: DatasetName) -> Option<(&'static str, [Resource; 4])> {
    let r = |file, sha256, max_bytes| Resource {
        file,
        sha256,
        max_bytes,
    };
    match name {
        DatasetName::FashionMnist => Some((
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            [
                r(
                    "train-images-idx3-ubyte.gz",
                    "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
                    40 << 20,
                ),
                r(
                    "train-labels-idx1-ubyte.gz",
                    "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
                    1 << 20,
                ),
                r(
                    "t10k-images-idx3-ubyte.gz",
                    "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
                    10 << 20,
                ),
                r(
                    "t10k-labels-idx1-ubyte.gz",
                    "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
                    1 << 20,
                ),
            ],
        )),
        DatasetName::Mnist => Some((
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            [
                r(
                    "train-images-idx3-ubyte.gz",
                    "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                    40 << 20,
                ),
                r(
                    "train-labels-idx1-ubyte.gz",
                    "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                    1 << 20,
                ),
                r(
                    "t10k-images-idx3-ubyte.gz",
                    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                    10 << 20,
                ),
                r(
                    "t10k-labels-idx1-ubyte.gz",
                    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                    1 << 20,
                ),
            ],
        )),
        DatasetName::Digits | DatasetName::Synthetic => None,
    }
}

/// Where `fetch` puts a dataset by default: `$BATCHBENCH_DATA/<name>`, which the
/// loader searches.
pub fn default_dir(name: DatasetName) -> anyhow::Result<PathBuf> {
    match std::env::var_os("BATCHBENCH_DATA") {
        Some(root) => Ok(PathBuf::from(root).join(name.as_str())),
        None => bail!(
            "set $BATCHBENCH_DATA to the folder that should hold datasets (batchbench looks there), or pass --dir"
        ),
    }
}

/// Downloads the dataset's files into `dir`, skipping files already present with the
/// right checksum. Each file is written under a temporary name and renamed only after
/// its checksum matched. `$BATCHBENCH_DATA_MIRROR` replaces the canonical address (a
/// cluster's internal mirror, say): the files are fetched from `<mirror>/<name>/<file>`
/// and checked against the same published checksums.
pub fn fetch(name: DatasetName, dir: &Path) -> anyhow::Result<()> {
    let Some((canonical, files)) = resources(name) else {
        bail!(
            "{name} needs no download: it is {}",
            if name == DatasetName::Digits {
                "embedded in batchbench"
            } else {
                "generated"
            }
        );
    };
    let base = match std::env::var("BATCHBENCH_DATA_MIRROR") {
        Ok(m) if !m.is_empty() => format!("{}/{}/", m.trim_end_matches('/'), name.as_str()),
        _ => canonical.to_string(),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for r in &files {
        let target = dir.join(r.file);
        if target.is_file() && sha256_file(&target)? == r.sha256 {
            eprintln!("{}: present, checksum ok", target.display());
            continue;
        }
        let url = format!("{base}{}", r.file);
        eprintln!("downloading {url}");
        let response = ureq::get(&url).call().with_context(|| {
            format!("cannot download {url}; check the network, or install the files by hand")
        })?;
        let mut bytes = Vec::new();
        response
            .into_body()
            .into_reader()
            .take(r.max_bytes + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("download of {url} failed"))?;
        if bytes.len() as u64 > r.max_bytes {
            bail!("{url} is larger than {} bytes; refusing it", r.max_bytes);
        }
        let got = hex::encode(Sha256::digest(&bytes));
        if got != r.sha256 {
            bail!(
                "{url}: SHA-256 {got} does not match the published {}; the file was not saved",
                r.sha256
            );
        }
        let partial = dir.join(format!("{}.partial", r.file));
        std::fs::write(&partial, &bytes)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        std::fs::rename(&partial, &target)
            .with_context(|| format!("cannot move into {}", target.display()))?;
        eprintln!("{}: saved, checksum ok", target.display());
    }
    Ok(())
}

fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}
