//! The only `unsafe` in the crate: cfitsio calls that the safe `fitsio` API lacks
//! (HISTORY records, logical keywords, listing every header card).
//!
//! Why `unsafe` is allowed here: these are plain FFI calls into cfitsio with
//! NUL-terminated buffers of the sizes cfitsio documents (`FLEN_CARD` = 81 bytes,
//! `FLEN_KEYWORD` = 75, `FLEN_VALUE` = 71, `FLEN_COMMENT` = 73); the `fitsfile` pointer
//! comes from a live `fitsio::FitsFile` borrowed mutably for the duration of each call.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int};

use fitsio::FitsFile;

/// cfitsio buffer sizes (fitsio.h), with a little slack.
const FLEN_CARD: usize = 81 + 8;
const FLEN_KEYWORD: usize = 75 + 8;
const FLEN_VALUE: usize = 71 + 8;
const FLEN_COMMENT: usize = 73 + 8;

/// A cfitsio status code with its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfitsioStatus {
    pub status: i32,
    pub message: String,
}

impl std::fmt::Display for CfitsioStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cfitsio status {}: {}", self.status, self.message)
    }
}

impl std::error::Error for CfitsioStatus {}

fn status_err(status: c_int) -> CfitsioStatus {
    let mut buf = [0 as c_char; 32];
    // SAFETY: ffgerr writes at most FLEN_STATUS (31) bytes including the NUL.
    unsafe { fitsio_sys::ffgerr(status, buf.as_mut_ptr()) };
    CfitsioStatus {
        status,
        message: cstr_to_string(&buf),
    }
}

fn cstr_to_string(buf: &[c_char]) -> String {
    // SAFETY: the buffers are zero-initialised and longer than anything cfitsio writes,
    // so there is always a terminating NUL inside the slice.
    let s = unsafe { CStr::from_ptr(buf.as_ptr()) };
    s.to_string_lossy().into_owned()
}

fn to_cstring(s: &str) -> CString {
    // Interior NULs cannot appear in a FITS header: drop them rather than fail.
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

/// Append a HISTORY record (cfitsio splits long text over several records).
pub fn write_history(f: &mut FitsFile, text: &str) -> Result<(), CfitsioStatus> {
    let c = to_cstring(text);
    let mut status: c_int = 0;
    // SAFETY: see the module comment.
    unsafe {
        fitsio_sys::ffphis(f.as_raw(), c.as_ptr(), &mut status);
    }
    if status != 0 {
        return Err(status_err(status));
    }
    Ok(())
}

/// Write (or append) a logical keyword.
pub fn write_bool_key(f: &mut FitsFile, name: &str, value: bool) -> Result<(), CfitsioStatus> {
    let k = to_cstring(name);
    let mut status: c_int = 0;
    // SAFETY: see the module comment; a NULL comment is allowed by cfitsio.
    unsafe {
        fitsio_sys::ffpkyl(
            f.as_raw(),
            k.as_ptr(),
            c_int::from(value),
            std::ptr::null(),
            &mut status,
        );
    }
    if status != 0 {
        return Err(status_err(status));
    }
    Ok(())
}

/// One header card: keyword name, raw value text (quotes kept for strings; empty for
/// commentary cards) and comment (the text for HISTORY/COMMENT cards).
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub name: String,
    pub value: String,
    pub comment: String,
}

/// Every card of the current HDU's header, in order.
pub fn read_cards(f: &mut FitsFile) -> Result<Vec<Card>, CfitsioStatus> {
    let mut status: c_int = 0;
    let mut nexist: c_int = 0;
    let mut nmore: c_int = 0;
    // SAFETY: see the module comment.
    unsafe {
        fitsio_sys::ffghsp(f.as_raw(), &mut nexist, &mut nmore, &mut status);
    }
    if status != 0 {
        return Err(status_err(status));
    }
    let mut cards = Vec::with_capacity(usize::try_from(nexist).unwrap_or(0));
    for i in 1..=nexist {
        let mut name = [0 as c_char; FLEN_KEYWORD];
        let mut value = [0 as c_char; FLEN_VALUE];
        let mut comment = [0 as c_char; FLEN_COMMENT];
        // SAFETY: buffers sized per cfitsio's FLEN_* constants (see module comment).
        unsafe {
            fitsio_sys::ffgkyn(
                f.as_raw(),
                i,
                name.as_mut_ptr(),
                value.as_mut_ptr(),
                comment.as_mut_ptr(),
                &mut status,
            );
        }
        if status != 0 {
            return Err(status_err(status));
        }
        let name = cstr_to_string(&name);
        let mut comment = cstr_to_string(&comment);
        if name == "HISTORY" || name == "COMMENT" || name.is_empty() {
            // ffgkyn returns the commentary text in `comment`; take the raw card to keep
            // leading blanks exactly.
            let mut card = [0 as c_char; FLEN_CARD];
            // SAFETY: as above.
            unsafe {
                fitsio_sys::ffgrec(f.as_raw(), i, card.as_mut_ptr(), &mut status);
            }
            if status != 0 {
                return Err(status_err(status));
            }
            let card = cstr_to_string(&card);
            comment = card.get(8..).unwrap_or("").trim_end().to_string();
        }
        cards.push(Card {
            name,
            value: cstr_to_string(&value),
            comment,
        });
    }
    Ok(cards)
}

/// Flush buffers to disk so that write errors surface here rather than in `Drop`.
pub fn flush(f: &mut FitsFile) -> Result<(), CfitsioStatus> {
    let mut status: c_int = 0;
    // SAFETY: see the module comment.
    unsafe {
        fitsio_sys::ffflus(f.as_raw(), &mut status);
    }
    if status != 0 {
        return Err(status_err(status));
    }
    Ok(())
}

/// Delete a keyword if present (the `fitsio` crate adds `EXTNAME = '_PRIMARY'` to primary
/// HDUs it creates; WSClean files have none).
pub fn delete_key_if_present(f: &mut FitsFile, name: &str) -> Result<(), CfitsioStatus> {
    const KEY_NO_EXIST: c_int = 202;
    let k = to_cstring(name);
    let mut status: c_int = 0;
    // SAFETY: see the module comment.
    unsafe {
        fitsio_sys::ffdkey(f.as_raw(), k.as_ptr(), &mut status);
    }
    if status != 0 && status != KEY_NO_EXIST {
        return Err(status_err(status));
    }
    Ok(())
}
