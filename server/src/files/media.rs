//! The media types a file may have, recognised from its first bytes: a name or a client's word for
//! it proves nothing, and a file served back to a browser as what it claims to be must be that.

/// Photos as phones take them, and PDFs (a scanned delivery note, an invoice).
pub const ALLOWED: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/heif",
    "image/avif",
    "application/pdf",
];

/// How many first bytes recognising a type needs at most.
pub const SNIFF_BYTES: usize = 8 << 10;

/// The media type of a file whose first bytes are `head`, if it is one of the allowed ones.
pub fn recognise(head: &[u8]) -> Option<&'static str> {
    let found = infer::get(head)?.mime_type();
    ALLOWED.iter().copied().find(|allowed| *allowed == found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photos_and_pdfs_are_recognised_by_their_bytes_and_nothing_else_is() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
        assert_eq!(recognise(&jpeg), Some("image/jpeg"));
        let png = [
            0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D,
        ];
        assert_eq!(recognise(&png), Some("image/png"));
        assert_eq!(recognise(b"%PDF-1.7\n"), Some("application/pdf"));
        // An executable, a script and plain text are not taken, whatever they are named.
        assert_eq!(recognise(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0"), None);
        assert_eq!(recognise(b"#!/bin/sh\nrm -rf /\n"), None);
        assert_eq!(recognise(b"just some text"), None);
        assert_eq!(recognise(b""), None);
    }
}
