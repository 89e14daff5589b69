//! Where each key and value of a config file is, for messages that point
//! at the line and column. serde_json decodes the values; this only walks
//! text that serde_json has already accepted, noting where every object key
//! and every value starts, and the keys of each object in text order
//! (duplicates included, which a decoded map loses).

use std::collections::HashMap;

/// One step of a path into the document.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Seg {
    /// An object key, as written.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A 1-based line and column (columns count characters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// Keys in text order and the positions of keys and values.
#[derive(Debug, Default)]
pub struct Positions {
    /// For each object (by path): its keys in order, each with its position.
    keys: HashMap<Vec<Seg>, Vec<(String, Pos)>>,
    /// Where the value at a path starts.
    values: HashMap<Vec<Seg>, Pos>,
}

enum Frame {
    Object { key_next: bool },
    Array { next: usize },
}

impl Positions {
    /// Index `text`, which must be valid JSON (serde_json parsed it).
    pub fn index(text: &str) -> Positions {
        let mut p = Positions::default();
        let mut frames: Vec<Frame> = Vec::new();
        let mut path: Vec<Seg> = Vec::new();
        let (mut line, mut col) = (1usize, 1usize);
        let mut chars = text.char_indices().peekable();
        // A value at `path` has ended: drop its key or index.
        fn done(frames: &[Frame], path: &mut Vec<Seg>) {
            if !frames.is_empty() {
                path.pop();
            }
        }
        while let Some((i, c)) = chars.next() {
            let here = Pos { line, col };
            if c == '\n' {
                line += 1;
                col = 1;
                continue;
            }
            col += 1;
            match c {
                ' ' | '\t' | '\r' | ':' => {}
                ',' => match frames.last_mut() {
                    Some(Frame::Object { key_next }) => *key_next = true,
                    Some(Frame::Array { next }) => *next += 1,
                    None => {}
                },
                '}' | ']' => {
                    frames.pop();
                    done(&frames, &mut path);
                }
                _ => {
                    // A string: find its end (escapes skip a character).
                    let mut end = i + c.len_utf8();
                    if c == '"' {
                        let mut escaped = false;
                        for (j, d) in chars.by_ref() {
                            col += 1;
                            end = j + d.len_utf8();
                            if escaped {
                                escaped = false;
                            } else if d == '\\' {
                                escaped = true;
                            } else if d == '"' {
                                break;
                            }
                        }
                        if let Some(Frame::Object { key_next }) = frames.last_mut() {
                            if *key_next {
                                *key_next = false;
                                let key: String =
                                    serde_json::from_str(&text[i..end]).unwrap_or_default();
                                let parent = path.clone();
                                path.push(Seg::Key(key.clone()));
                                p.keys.entry(parent).or_default().push((key, here));
                                continue;
                            }
                        }
                    }
                    // A value starts here.
                    if let Some(Frame::Array { next }) = frames.last() {
                        path.push(Seg::Index(*next));
                    }
                    p.values.insert(path.clone(), here);
                    match c {
                        '{' => frames.push(Frame::Object { key_next: true }),
                        '[' => frames.push(Frame::Array { next: 0 }),
                        '"' => done(&frames, &mut path),
                        _ => {
                            // A number or literal: runs to the next delimiter.
                            while let Some(&(_, d)) = chars.peek() {
                                if matches!(d, ',' | '}' | ']' | ' ' | '\t' | '\r' | '\n') {
                                    break;
                                }
                                chars.next();
                                col += 1;
                            }
                            done(&frames, &mut path);
                        }
                    }
                }
            }
        }
        p
    }

    /// The keys of the object at `path`, in text order.
    pub fn keys(&self, path: &[Seg]) -> &[(String, Pos)] {
        self.keys.get(path).map_or(&[], Vec::as_slice)
    }

    /// Where the value at `path` starts (the document's start if unknown).
    pub fn value(&self, path: &[Seg]) -> Pos {
        self.values
            .get(path)
            .copied()
            .unwrap_or(Pos { line: 1, col: 1 })
    }
}
