//! Thin helpers over hdf5-metno that turn every failure into an [`IngestError`]
//! naming the file and dataset, and that refuse allocations a corrupt dataspace
//! could demand.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use hdf5::types::{
    FixedAscii, FixedUnicode, FloatSize, TypeDescriptor, VarLenAscii, VarLenUnicode,
};

use crate::error::{Hdf5Failure, IngestError, Result};

/// The HDF5 format signature.
const SIGNATURE: [u8; 8] = [0x89, b'H', b'D', b'F', b'\r', b'\n', 0x1a, b'\n'];

/// Longest fixed-length header string we keep (longer ones are truncated).
const MAX_STR: usize = 1024;

/// An open file plus what error messages need.
#[derive(Debug)]
pub(crate) struct H5File {
    pub path: PathBuf,
    pub file: hdf5::File,
    pub file_len: u64,
}

/// Map an OS error on `path` to the crate error.
pub(crate) fn io_err(path: &Path, e: std::io::Error) -> IngestError {
    if e.kind() == std::io::ErrorKind::NotFound {
        IngestError::NotFound {
            path: path.to_path_buf(),
        }
    } else {
        IngestError::Io {
            path: path.to_path_buf(),
            source: e,
        }
    }
}

/// Size of the file on disk.
pub(crate) fn file_len(path: &Path) -> Result<u64> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| io_err(path, e))
}

/// Whether an HDF5 superblock signature sits where the format allows one
/// (offset 0, 512, 1024, 2048, ...).
fn has_signature(path: &Path, len: u64) -> Result<bool> {
    let mut f = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
    let mut off = 0u64;
    loop {
        if off + 8 > len {
            return Ok(false);
        }
        let mut buf = [0u8; 8];
        f.seek(SeekFrom::Start(off)).map_err(|e| io_err(path, e))?;
        f.read_exact(&mut buf).map_err(|e| io_err(path, e))?;
        if buf == SIGNATURE {
            return Ok(true);
        }
        off = if off == 0 { 512 } else { off * 2 };
    }
}

/// Convert an hdf5-metno error about `dataset` ("" for the file) on `path`.
pub(crate) fn h5_err(path: &Path, dataset: &str, e: &hdf5::Error) -> IngestError {
    let failure = Hdf5Failure::from_hdf5(e);
    if failure.is_truncation() {
        IngestError::Truncated {
            path: path.to_path_buf(),
            dataset: dataset.to_string(),
            detail: failure.to_string(),
        }
    } else {
        IngestError::Hdf5 {
            path: path.to_path_buf(),
            dataset: dataset.to_string(),
            source: failure,
        }
    }
}

impl H5File {
    /// Check the file exists, is not empty and carries the HDF5 signature, then open it
    /// read-only.
    pub fn open(path: &Path) -> Result<Self> {
        let len = file_len(path)?;
        if len == 0 {
            return Err(IngestError::EmptyFile {
                path: path.to_path_buf(),
            });
        }
        if !has_signature(path, len)? {
            return Err(IngestError::NotHdf5 {
                path: path.to_path_buf(),
            });
        }
        let file = hdf5::File::open(path).map_err(|e| h5_err(path, "", &e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            file_len: len,
        })
    }

    /// Largest number of bytes a dataset of this file may plausibly decode to
    /// (generous: LZF and chunk fill values can expand a lot).
    pub fn byte_limit(&self) -> u128 {
        u128::from(self.file_len) * 256 + (64 << 20)
    }

    /// A required group.
    pub fn group(&self, name: &str) -> Result<hdf5::Group> {
        if !self.file.link_exists(name) {
            return Err(IngestError::MissingGroup {
                path: self.path.clone(),
                group: name.to_string(),
            });
        }
        self.file.group(name).map_err(|e| {
            // A link that exists but is not a group is as good as missing.
            match self.file.dataset(name) {
                Ok(_) => IngestError::MissingGroup {
                    path: self.path.clone(),
                    group: name.to_string(),
                },
                Err(_) => h5_err(&self.path, name, &e),
            }
        })
    }

    /// An optional group (`None` if absent).
    pub fn opt_group(
        &self,
        parent: &hdf5::Group,
        pname: &str,
        name: &str,
    ) -> Result<Option<hdf5::Group>> {
        if !parent.link_exists(name) {
            return Ok(None);
        }
        let full = format!("{pname}/{name}");
        match parent.group(name) {
            Ok(g) => Ok(Some(g)),
            Err(e) => Err(h5_err(&self.path, &full, &e)),
        }
    }

    /// A required dataset `pname/name` of group `parent`.
    pub fn dataset<'a>(&'a self, parent: &hdf5::Group, pname: &str, name: &str) -> Result<Ds<'a>> {
        self.opt_dataset(parent, pname, name)?
            .ok_or_else(|| IngestError::MissingDataset {
                path: self.path.clone(),
                dataset: format!("{pname}/{name}"),
            })
    }

    /// An optional dataset.
    pub fn opt_dataset<'a>(
        &'a self,
        parent: &hdf5::Group,
        pname: &str,
        name: &str,
    ) -> Result<Option<Ds<'a>>> {
        let full = format!("{pname}/{name}");
        if !parent.link_exists(name) {
            return Ok(None);
        }
        match parent.dataset(name) {
            Ok(ds) => Ok(Some(Ds {
                f: self,
                name: full,
                ds,
            })),
            Err(e) => {
                if parent.group(name).is_ok() {
                    // a group where a dataset should be
                    Err(IngestError::DataType {
                        path: self.path.clone(),
                        dataset: full,
                        expected: "a dataset".into(),
                        found: "a group".into(),
                    })
                } else {
                    Err(h5_err(&self.path, &full, &e))
                }
            }
        }
    }
}

/// A dataset with its full name, for error messages.
#[derive(Debug)]
pub(crate) struct Ds<'a> {
    pub f: &'a H5File,
    pub name: String,
    pub ds: hdf5::Dataset,
}

/// Human-readable name of an HDF5 type.
pub(crate) fn type_name(t: &TypeDescriptor) -> String {
    match t {
        TypeDescriptor::Integer(s) => format!("int{}", *s as usize * 8),
        TypeDescriptor::Unsigned(s) => format!("uint{}", *s as usize * 8),
        TypeDescriptor::Float(s) => format!("float{}", *s as usize * 8),
        TypeDescriptor::Boolean => "bool".into(),
        TypeDescriptor::Enum(_) => "enum".into(),
        TypeDescriptor::Compound(c) => {
            let fields: Vec<String> = c
                .fields
                .iter()
                .map(|f| format!("{}: {}", f.name, type_name(&f.ty)))
                .collect();
            format!("compound {{{}}}", fields.join(", "))
        }
        TypeDescriptor::FixedArray(t, n) => format!("[{}; {n}]", type_name(t)),
        TypeDescriptor::FixedAscii(n) => format!("fixed ASCII string ({n})"),
        TypeDescriptor::FixedUnicode(n) => format!("fixed UTF-8 string ({n})"),
        TypeDescriptor::VarLenArray(t) => format!("vlen [{}]", type_name(t)),
        TypeDescriptor::VarLenAscii => "vlen ASCII string".into(),
        TypeDescriptor::VarLenUnicode => "vlen UTF-8 string".into(),
        _ => "other".into(),
    }
}

/// Element kinds a dataset may be required to have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    Int,
    Float,
    /// Float or integer (read as f64).
    Number,
}

impl Ds<'_> {
    pub fn path(&self) -> &Path {
        &self.f.path
    }

    pub fn h5(&self, e: &hdf5::Error) -> IngestError {
        h5_err(&self.f.path, &self.name, e)
    }

    pub fn shape(&self) -> Result<Vec<usize>> {
        self.ds.get_shape().map_err(|e| self.h5(&e))
    }

    pub fn descriptor(&self) -> Result<TypeDescriptor> {
        let dt = self.ds.dtype().map_err(|e| self.h5(&e))?;
        dt.to_descriptor().map_err(|e| self.h5(&e))
    }

    pub fn dtype_err(&self, expected: &str, found: &TypeDescriptor) -> IngestError {
        IngestError::DataType {
            path: self.f.path.clone(),
            dataset: self.name.clone(),
            expected: expected.to_string(),
            found: type_name(found),
        }
    }

    pub fn shape_err(&self, expected: String, found: Vec<usize>) -> IngestError {
        IngestError::Shape {
            path: self.f.path.clone(),
            dataset: self.name.clone(),
            expected,
            found,
        }
    }

    /// Refuse to allocate `nelem × elem_size` bytes if the file cannot hold them.
    pub fn check_alloc(&self, nelem: usize, elem_size: usize) -> Result<()> {
        let bytes = nelem as u128 * elem_size as u128;
        if bytes > self.f.byte_limit() {
            return Err(IngestError::Implausible {
                path: self.f.path.clone(),
                dataset: self.name.clone(),
                bytes,
                file_bytes: self.f.file_len,
            });
        }
        Ok(())
    }

    fn check_kind(&self, want: Want) -> Result<()> {
        let t = self.descriptor()?;
        let ok = matches!(
            (want, &t),
            (
                Want::Int,
                TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_)
            ) | (Want::Float, TypeDescriptor::Float(_))
                | (
                    Want::Number,
                    TypeDescriptor::Float(_)
                        | TypeDescriptor::Integer(_)
                        | TypeDescriptor::Unsigned(_)
                )
        );
        if ok {
            Ok(())
        } else {
            let expected = match want {
                Want::Int => "an integer",
                Want::Float => "a float",
                Want::Number => "a number",
            };
            Err(self.dtype_err(expected, &t))
        }
    }

    fn nelem(&self) -> Result<usize> {
        let shape = self.shape()?;
        let mut n: usize = 1;
        for d in &shape {
            n = n.checked_mul(*d).ok_or_else(|| IngestError::Implausible {
                path: self.f.path.clone(),
                dataset: self.name.clone(),
                bytes: u128::MAX,
                file_bytes: self.f.file_len,
            })?;
        }
        Ok(n)
    }

    /// All elements as i64 (integer datasets only), flattened.
    pub fn read_i64s(&self) -> Result<Vec<i64>> {
        self.check_kind(Want::Int)?;
        let n = self.nelem()?;
        self.check_alloc(n, 8)?;
        self.ds.read_raw::<i64>().map_err(|e| self.h5(&e))
    }

    /// All elements as f64, flattened.
    pub fn read_f64s(&self, want: Want) -> Result<Vec<f64>> {
        self.check_kind(want)?;
        let n = self.nelem()?;
        self.check_alloc(n, 8)?;
        self.ds.read_raw::<f64>().map_err(|e| self.h5(&e))
    }

    fn one<T: Copy>(&self, v: Vec<T>) -> Result<T> {
        match v.as_slice() {
            [x] => Ok(*x),
            _ => Err(self.shape_err("a scalar or a 1-element array".into(), self.shape()?)),
        }
    }

    /// A scalar (or 1-element array) integer.
    pub fn scalar_i64(&self) -> Result<i64> {
        let v = self.read_i64s()?;
        self.one(v)
    }

    /// A scalar (or 1-element array) number.
    pub fn scalar_f64(&self, want: Want) -> Result<f64> {
        let v = self.read_f64s(want)?;
        self.one(v)
    }

    /// A non-negative scalar count.
    pub fn scalar_count(&self) -> Result<usize> {
        let v = self.scalar_i64()?;
        usize::try_from(v).map_err(|_| IngestError::Inconsistent {
            path: self.f.path.clone(),
            dataset: self.name.clone(),
            reason: format!("count {v} is negative"),
        })
    }

    /// All strings of the dataset (fixed-length ASCII/UTF-8 or variable-length).
    pub fn read_strings(&self) -> Result<Vec<String>> {
        let t = self.descriptor()?;
        let n = self.nelem()?;
        let clean = |b: &[u8]| {
            String::from_utf8_lossy(b)
                .trim_end_matches(['\0', ' '])
                .to_string()
        };
        let r = self.ds.as_reader();
        match t {
            TypeDescriptor::FixedAscii(_) => {
                self.check_alloc(n, MAX_STR)?;
                let v = r
                    .read_raw::<FixedAscii<MAX_STR>>()
                    .map_err(|e| self.h5(&e))?;
                Ok(v.iter().map(|s| clean(s.as_bytes())).collect())
            }
            TypeDescriptor::FixedUnicode(_) => {
                self.check_alloc(n, MAX_STR)?;
                let v = r
                    .read_raw::<FixedUnicode<MAX_STR>>()
                    .map_err(|e| self.h5(&e))?;
                Ok(v.iter().map(|s| clean(s.as_bytes())).collect())
            }
            TypeDescriptor::VarLenAscii => {
                self.check_alloc(n, 16)?;
                let v = r.read_raw::<VarLenAscii>().map_err(|e| self.h5(&e))?;
                Ok(v.iter().map(|s| clean(s.as_bytes())).collect())
            }
            TypeDescriptor::VarLenUnicode => {
                self.check_alloc(n, 16)?;
                let v = r.read_raw::<VarLenUnicode>().map_err(|e| self.h5(&e))?;
                Ok(v.iter().map(|s| clean(s.as_bytes())).collect())
            }
            other => Err(self.dtype_err("a string", &other)),
        }
    }

    /// One string (scalar or 1-element array).
    pub fn read_string(&self) -> Result<String> {
        let mut v = self.read_strings()?;
        if v.len() == 1 {
            Ok(v.remove(0))
        } else {
            Err(self.shape_err("a scalar string".into(), self.shape()?))
        }
    }
}

/// Width of the floats of a dataset.
pub(crate) fn float_width(t: &TypeDescriptor) -> Option<FloatSize> {
    match t {
        TypeDescriptor::Float(s) => Some(*s),
        _ => None,
    }
}
