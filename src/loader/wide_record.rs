//! How the wide row store (wide.rs) lays out one row's descriptive fields.
//!
//! A record is read back by its place in a segment, in any order, so it is whole on its
//! own except for one thing: a text that repeats one of the first few the segment
//! spelled out for the same field (a corpus's pixel formats, encoders, version and
//! ingest time, row after row) is written as the place of that earlier text instead of
//! its bytes. Records of a group of keys can do that, since their segments are read
//! back whole; the records without a key are read one by one and always spell their
//! texts out.
//!
//! Layout: a u32 (little-endian) with the record's length in bytes, itself included;
//! width, height and n_ratings as zigzag LEB128 varints; framerate and duration_s as the
//! eight bytes of their f64; then src, pix_fmt, encoder_upstream, corpus_version and
//! ingested_at_utc, each a varint header: `len << 1` followed by the text's UTF-8 bytes,
//! or `(place << 1) | 1` for the text spelled out (header and bytes) at `place`, counted
//! from the start of the segment and always before this record.
//!
//! The adapters' records were 132 bytes in the fixed layout before this one (every
//! integer in eight bytes, every text spelled out); they are about 75 in this one. At
//! 10M rows most of them go to the staging file, whose fresh page-cache pages cost this
//! machine more than the bytes' encoding (BENCHMARKS.md, "Where the time goes").

use super::wide::WideRow;

/// The texts that may refer to an earlier one, in record order after `src`.
const REPEATABLE: usize = 4;

/// The most bytes a record of `row` takes: its length, three varints of at most ten
/// bytes, two floats, and five text headers of at most five bytes with their texts.
pub fn max_len(row: &WideRow<'_>) -> usize {
    4 + 3 * 10
        + 2 * 8
        + 5 * 5
        + row.src.len()
        + row.pix_fmt.len()
        + row.encoder_upstream.len()
        + row.corpus_version.len()
        + row.ingested_at_utc.len()
}

/// Texts a segment refers back to, per repeatable field: at most this many, the first
/// distinct ones it spelled out. A corpus's encoders (h264, vp9, hevc, av1) and pixel
/// formats alternate row by row, so one text per field (the last spelled out) was spelled
/// out again at nearly every change, and its references pointed all over the segment:
/// each one a miss in the cache when the kept rows are gathered. The first few sit at
/// the segment's start, where every gather of its records finds them in the cache.
const NOTED: usize = 4;

/// Rows in a row whose text matched none of a field's noted ones, all of them noted,
/// after which the segment stops looking (a field whose every row is its own, such as
/// an ingest time to the second, would cost a comparison with each noted text per row).
const GIVE_UP_AFTER: u32 = 32;

/// The texts a segment may refer back to, per repeatable field.
#[derive(Debug, Default)]
pub struct LastSpelled([Noted; REPEATABLE]);

/// One field's noted texts with their places (that of their header): copies, so that
/// comparing each row's text with them reads neither a varint nor the segment's far-off
/// bytes; and the rows in a row that matched none once all were noted.
#[derive(Debug, Default)]
struct Noted {
    texts: Vec<(u32, Vec<u8>)>,
    misses: u32,
}

/// Appends `row`'s record to `segment`. With `last` (a segment read back whole), a
/// repeatable text equal to the one `last` points to is written as that text's place.
pub fn encode(segment: &mut Vec<u8>, row: &WideRow<'_>, mut last: Option<&mut LastSpelled>) {
    let start = segment.len();
    segment.extend_from_slice(&[0; 4]);
    for v in [row.width, row.height, row.n_ratings] {
        put_varint(segment, zigzag(v));
    }
    segment.extend_from_slice(&row.framerate.to_le_bytes());
    segment.extend_from_slice(&row.duration_s.to_le_bytes());
    put_text(segment, row.src.as_bytes());
    let repeatable = [
        &row.pix_fmt,
        &row.encoder_upstream,
        &row.corpus_version,
        &row.ingested_at_utc,
    ];
    for (field, text) in repeatable.into_iter().enumerate() {
        let text = text.as_bytes();
        let Some(last) = last.as_deref_mut() else {
            put_text(segment, text);
            continue;
        };
        let noted = &mut last.0[field];
        if noted.misses >= GIVE_UP_AFTER {
            put_text(segment, text);
            continue;
        }
        match noted
            .texts
            .iter()
            .find(|(_, earlier)| earlier.as_slice() == text)
        {
            Some((place, _)) => {
                noted.misses = 0;
                put_varint(segment, (u64::from(*place) << 1) | 1);
            }
            None => {
                if noted.texts.len() < NOTED {
                    // A place past u32 (never, with segments of a few MiB) is not noted.
                    if let Ok(at) = u32::try_from(segment.len()) {
                        noted.texts.push((at, text.to_vec()));
                    }
                } else {
                    noted.misses += 1;
                }
                put_text(segment, text);
            }
        }
    }
    let len = (segment.len() - start) as u32;
    segment[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// The length of the record whose first bytes are `head` (at least 4 of them).
pub fn length(head: &[u8]) -> Option<usize> {
    let b: [u8; 4] = head.get(..4)?.try_into().ok()?;
    Some(u32::from_le_bytes(b) as usize)
}

/// One record's fields, its texts as stored (UTF-8 when the record is sound).
#[derive(Debug, PartialEq)]
pub struct Fields<'a> {
    pub width: i64,
    pub height: i64,
    pub n_ratings: i64,
    pub framerate: f64,
    pub duration_s: f64,
    pub src: &'a [u8],
    pub pix_fmt: &'a [u8],
    pub encoder_upstream: &'a [u8],
    pub corpus_version: &'a [u8],
    pub ingested_at_utc: &'a [u8],
}

/// The record at `at` of the segment `segment` (which starts at `segment_start` of
/// `data`: a group read back holds several segments end to end). `None` for a record
/// that is cut short, or refers to a place that is not an earlier spelled-out text.
pub fn decode(data: &[u8], segment_start: usize, at: usize) -> Option<Fields<'_>> {
    let len = length(data.get(at..)?)?;
    let end = at.checked_add(len)?;
    if len < 4 || end > data.len() {
        return None;
    }
    let mut c = Cursor {
        data: &data[..end],
        at: at + 4,
    };
    let width = unzigzag(c.varint()?);
    let height = unzigzag(c.varint()?);
    let n_ratings = unzigzag(c.varint()?);
    let framerate = f64::from_le_bytes(c.bytes8()?);
    let duration_s = f64::from_le_bytes(c.bytes8()?);
    let src = c.own_text()?;
    let mut texts = [&[][..]; REPEATABLE];
    for text in &mut texts {
        let header = c.varint()?;
        *text = if header & 1 == 0 {
            c.take(usize::try_from(header >> 1).ok()?)?
        } else {
            // Only backwards, and only to a text spelled out in the same segment.
            let place = segment_start.checked_add(usize::try_from(header >> 1).ok()?)?;
            if place >= at {
                return None;
            }
            spelled_at(&data[..at], place)?
        };
    }
    let [pix_fmt, encoder_upstream, corpus_version, ingested_at_utc] = texts;
    (c.at == end).then_some(Fields {
        width,
        height,
        n_ratings,
        framerate,
        duration_s,
        src,
        pix_fmt,
        encoder_upstream,
        corpus_version,
        ingested_at_utc,
    })
}

/// The text spelled out at `at` of `data` (its header and bytes); `None` for a
/// reference or bytes cut short.
#[inline]
fn spelled_at(data: &[u8], at: usize) -> Option<&[u8]> {
    let mut c = Cursor { data, at };
    c.own_text()
}

fn put_text(out: &mut Vec<u8>, text: &[u8]) {
    put_varint(out, (text.len() as u64) << 1);
    out.extend_from_slice(text);
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Small negative numbers in few bytes too (a width is never negative, but a shard may
/// say so, and it must come back as it was read).
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Reads a record's parts off `data`, never past its end.
struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.data.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }

    fn bytes8(&mut self) -> Option<[u8; 8]> {
        self.take(8)?.try_into().ok()
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.data.get(self.at)?;
            self.at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    /// A text spelled out here (not a reference).
    fn own_text(&mut self) -> Option<&'a [u8]> {
        let header = self.varint()?;
        if header & 1 == 1 {
            return None;
        }
        self.take(usize::try_from(header >> 1).ok()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: i64, pix_fmt: &'static str) -> WideRow<'static> {
        WideRow {
            src: format!("clip-{i}.mp4").into(),
            width: 1920 + i,
            height: -i,
            framerate: 29.97,
            duration_s: i as f64 / 3.0,
            pix_fmt: pix_fmt.into(),
            encoder_upstream: "h264".into(),
            n_ratings: i64::MIN + i,
            corpus_version: "v1 é".into(),
            ingested_at_utc: "".into(),
        }
    }

    fn fields_of<'a>(r: &'a WideRow<'a>) -> Fields<'a> {
        Fields {
            width: r.width,
            height: r.height,
            n_ratings: r.n_ratings,
            framerate: r.framerate,
            duration_s: r.duration_s,
            src: r.src.as_bytes(),
            pix_fmt: r.pix_fmt.as_bytes(),
            encoder_upstream: r.encoder_upstream.as_bytes(),
            corpus_version: r.corpus_version.as_bytes(),
            ingested_at_utc: r.ingested_at_utc.as_bytes(),
        }
    }

    /// The records of `rows`, encoded into one segment that starts after 13 other
    /// bytes (as in a group read back whole); their places and lengths.
    fn segment_of(rows: &[WideRow], refer: bool) -> (Vec<u8>, Vec<usize>, Vec<usize>) {
        let mut seg = Vec::new();
        let mut last = LastSpelled::default();
        let (mut places, mut lens) = (Vec::new(), Vec::new());
        for r in rows {
            let before = seg.len();
            encode(&mut seg, r, refer.then_some(&mut last));
            places.push(13 + before);
            lens.push(seg.len() - before);
            assert!(seg.len() - before <= max_len(r));
        }
        let mut data = vec![7u8; 13];
        data.extend_from_slice(&seg);
        (data, places, lens)
    }

    #[test]
    fn repeated_texts_are_stored_once_and_every_record_comes_back_whole() {
        let rows: Vec<WideRow> = (0..6)
            .map(|i| row(i, if i < 3 { "yuv420p" } else { "yuv420p10le" }))
            .collect();
        let (plain, plain_at, plain_len) = segment_of(&rows, false);
        let (short, short_at, short_len) = segment_of(&rows, true);
        for (r, (&p, &s)) in rows.iter().zip(plain_at.iter().zip(&short_at)) {
            assert_eq!(decode(&plain, 13, p), Some(fields_of(r)));
            assert_eq!(decode(&short, 13, s), Some(fields_of(r)));
        }
        // The first record spells everything out either way. The second refers to its
        // pixel format, encoder and version, each a one-byte place in place of a
        // one-byte length and the text (the empty ingest time is one byte either way).
        // The fourth spells its new pixel format out and refers to the rest; the fifth
        // refers to the fourth's pixel format, whose place takes two bytes.
        let (encoder, version) = ("h264".len(), "v1 é".len());
        assert_eq!(short_len[0], plain_len[0]);
        assert_eq!(
            short_len[1] + "yuv420p".len() + encoder + version,
            plain_len[1]
        );
        assert_eq!(short_len[3] + encoder + version, plain_len[3]);
        assert_eq!(
            short_len[4] + "yuv420p10le".len() - 1 + encoder + version,
            plain_len[4]
        );
    }

    #[test]
    fn texts_that_alternate_are_spelled_out_once_each_up_to_the_noted_few() {
        let encoders = ["hevc", "vp9", "h264", "av1", "mpeg2", "prores"];
        let rows: Vec<WideRow> = (0..24)
            .map(|i| WideRow {
                encoder_upstream: encoders[i % encoders.len()].into(),
                ..row(i as i64, "yuv420p")
            })
            .collect();
        let (data, at, _) = segment_of(&rows, true);
        for (r, &a) in rows.iter().zip(&at) {
            assert_eq!(decode(&data, 13, a), Some(fields_of(r)));
        }
        let spelled = |text: &str| {
            data.windows(text.len() + 1)
                .filter(|w| w[0] as usize == text.len() << 1 && &w[1..] == text.as_bytes())
                .count()
        };
        // The first NOTED encoders once each; the rest every time they come.
        for (k, encoder) in encoders.iter().enumerate() {
            let times = if k < NOTED { 1 } else { 24 / encoders.len() };
            assert_eq!(spelled(encoder), times, "{encoder}");
        }
    }

    #[test]
    fn a_field_whose_rows_never_repeat_is_no_longer_looked_up() {
        let stamp = |i: usize| format!("2026-05-08T18:{:02}:{:02}+00:00", i / 60, i % 60);
        let mut rows: Vec<WideRow> = (0..NOTED + GIVE_UP_AFTER as usize + 2)
            .map(|i| WideRow {
                ingested_at_utc: stamp(i).into(),
                ..row(i as i64, "yuv420p")
            })
            .collect();
        // The last row repeats the first row's time, the one before the second's.
        let n = rows.len();
        rows[n - 2].ingested_at_utc = stamp(1).into();
        rows[n - 1].ingested_at_utc = stamp(0).into();
        let (data, at, lens) = segment_of(&rows, true);
        for (r, &a) in rows.iter().zip(&at) {
            assert_eq!(decode(&data, 13, a), Some(fields_of(r)));
        }
        // After GIVE_UP_AFTER misses, a repeat is spelled out: as long as the row before,
        // whose time was its own.
        assert_eq!(lens[n - 2], lens[n - 3], "{lens:?}");
        assert_eq!(lens[n - 1], lens[n - 3], "{lens:?}");
        // Before them, the same repeat is a reference.
        let mut early = rows[..NOTED + 3].to_vec();
        let (_, _, own_time) = segment_of(&early, true);
        early[NOTED + 2].ingested_at_utc = stamp(0).into();
        let (_, _, repeat) = segment_of(&early, true);
        assert!(repeat[NOTED + 2] + 20 < own_time[NOTED + 2], "{repeat:?}");
    }

    #[test]
    fn a_record_cut_short_or_pointing_anywhere_but_back_is_refused() {
        let mut seg = Vec::new();
        let mut last = LastSpelled::default();
        encode(&mut seg, &row(1, "yuv420p"), Some(&mut last));
        let second = seg.len();
        encode(&mut seg, &row(2, "yuv420p"), Some(&mut last));
        assert!(decode(&seg, 0, second).is_some());
        // Cut short: the record's length runs past the bytes there are.
        assert_eq!(decode(&seg[..seg.len() - 1], 0, second), None);
        // Zeros, as a forgotten stretch of the staging file reads.
        assert_eq!(decode(&[0u8; 64], 0, 0), None);
        // Read without the start of its segment (one record read on its own), its
        // references point before it: refused, never filled with other bytes.
        assert_eq!(decode(&seg[second..], 0, 0), None);
        // A segment said to start after the record it refers to.
        assert_eq!(decode(&seg, second, second), None);
    }

    #[test]
    fn varints_and_zigzag_round_trip_at_their_edges() {
        for v in [0, 1, -1, 63, -64, 1 << 40, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            put_varint(&mut out, zigzag(v));
            assert!(out.len() <= 10);
            let mut c = Cursor { data: &out, at: 0 };
            assert_eq!(c.varint().map(unzigzag), Some(v));
            assert_eq!(c.at, out.len());
        }
    }
}
