//! The lines of one body, with what they share stored once (see [`Arena`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use crate::{FieldKind, FieldValue, Line};

/// foldhash rather than SipHash: a series key is looked up for every line.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A measurement and its tag set, as one line wrote them.
#[derive(Debug, Clone, PartialEq)]
pub struct Series<'a> {
    pub measurement: Cow<'a, str>,
    /// In the order written.
    pub tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

/// A line's field keys in order, each with the kind of its value.
pub type FieldKeys<'a> = [(Cow<'a, str>, FieldKind)];

/// A line parsed into an [`Arena`] by [`crate::Lines::next_in`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArenaLine {
    /// 1-based line number of the line's first byte in the body.
    pub number: usize,
    /// The line's series: [`Arena::series`].
    pub series: u32,
    /// The line's field keys: [`Arena::field_keys`].
    pub field_keys: u32,
    /// The line's field values, in the order of its keys: [`Arena::values`].
    pub values: Range<usize>,
    /// In the request's precision; `None` means "now" to the caller.
    pub timestamp: Option<i64>,
}

/// Series, field-key lists and field values of the lines parsed by
/// [`crate::Lines::next_in`].
///
/// A series is stored once per distinct series key (the bytes of measurement and tags up
/// to the space before the fields) and a field-key list once per distinct list. Lines of
/// one source repeat both, so a line usually costs the arena only its values. Two ids
/// may still name equal series (the same tags written in another order or with other
/// escapes); callers that need one id per series key their own maps by content.
#[derive(Debug, Clone, Default)]
pub struct Arena<'a> {
    series: Vec<Series<'a>>,
    /// Series key bytes -> index in `series`. Equal bytes parse to the same series (the
    /// parse of measurement and tags reads no byte past the space that ends them), so
    /// a line whose key is here needs no parsing of its tags.
    series_ids: FastMap<&'a [u8], u32>,
    field_keys: Vec<Vec<(Cow<'a, str>, FieldKind)>>,
    /// By field-keys id: no key of the list holds a byte that ends or escapes a key
    /// (`,`, `=`, blanks, CR, LF, backslash), so its bytes as written are its text.
    field_keys_plain: Vec<bool>,
    field_key_ids: FastMap<Vec<(Cow<'a, str>, FieldKind)>, u32>,
    values: Vec<FieldValue<'a>>,
    /// The field-key list of the last line parsed: the guess for the next.
    last_field_keys: Option<u32>,
}

impl<'a> Arena<'a> {
    /// Makes room for `n` more field values.
    pub fn reserve_values(&mut self, n: usize) {
        self.values.reserve(n);
    }

    /// Series `id` of an [`ArenaLine`].
    pub fn series(&self, id: u32) -> &Series<'a> {
        &self.series[id as usize]
    }

    /// Number of series stored (ids are `0..series_count()`).
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Field-key list `id` of an [`ArenaLine`].
    pub fn field_keys(&self, id: u32) -> &FieldKeys<'a> {
        &self.field_keys[id as usize]
    }

    /// Number of field-key lists stored (ids are `0..field_keys_count()`).
    pub fn field_keys_count(&self) -> usize {
        self.field_keys.len()
    }

    /// The field values of `line`, in the order of its keys.
    pub fn values(&self, line: &ArenaLine) -> &[FieldValue<'a>] {
        &self.values[line.values.clone()]
    }

    /// `line` on its own, as the [`crate::Lines`] iterator yields it.
    pub fn line(&self, line: &ArenaLine) -> Line<'a> {
        let series = self.series(line.series);
        Line {
            number: line.number,
            measurement: series.measurement.clone(),
            tags: series.tags.clone(),
            fields: self
                .field_keys(line.field_keys)
                .iter()
                .zip(self.values(line))
                .map(|((k, _), v)| (k.clone(), v.clone()))
                .collect(),
            timestamp: line.timestamp,
        }
    }

    /// The tag count of the last series stored.
    pub(crate) fn tags_hint(&self) -> usize {
        self.series.last().map_or(0, |s| s.tags.len())
    }

    pub(crate) fn find_series(&self, key: &[u8]) -> Option<u32> {
        self.series_ids.get(key).copied()
    }

    /// Stores a series; `key`, if given, finds it again.
    pub(crate) fn add_series(&mut self, key: Option<&'a [u8]>, series: Series<'a>) -> u32 {
        let id = u32::try_from(self.series.len()).expect("fewer series than bytes");
        self.series.push(series);
        if let Some(key) = key {
            self.series_ids.insert(key, id);
        }
        id
    }

    /// Splits the arena into the guessed field keys (with whether they are plain) and
    /// the values to append to.
    pub(crate) fn guess_and_values(
        &mut self,
    ) -> (Option<u32>, &FieldKeys<'a>, bool, &mut Vec<FieldValue<'a>>) {
        let (keys, plain): (&FieldKeys<'a>, bool) = match self.last_field_keys {
            Some(id) => (
                &self.field_keys[id as usize],
                self.field_keys_plain[id as usize],
            ),
            None => (&[], false),
        };
        (self.last_field_keys, keys, plain, &mut self.values)
    }

    /// The id of a field-key list, stored if new; it becomes the next guess.
    pub(crate) fn intern_field_keys(&mut self, keys: Vec<(Cow<'a, str>, FieldKind)>) -> u32 {
        let id = match self.field_key_ids.get(&keys) {
            Some(&id) => id,
            None => {
                let id = u32::try_from(self.field_keys.len()).expect("fewer lists than bytes");
                let plain = keys.iter().all(|(k, _)| {
                    !k.bytes()
                        .any(|b| matches!(b, b',' | b'=' | b' ' | b'\t' | b'\r' | b'\n' | b'\\'))
                });
                self.field_keys_plain.push(plain);
                self.field_keys.push(keys.clone());
                self.field_key_ids.insert(keys, id);
                id
            }
        };
        self.last_field_keys = Some(id);
        id
    }

    /// Records that a line used the guessed field keys `id`.
    pub(crate) fn reuse_field_keys(&mut self, id: u32) {
        self.last_field_keys = Some(id);
    }

    /// Drops the values from `len` on (of a line that failed).
    pub(crate) fn truncate_values(&mut self, len: usize) {
        self.values.truncate(len);
    }

    pub(crate) fn values_len(&self) -> usize {
        self.values.len()
    }
}
