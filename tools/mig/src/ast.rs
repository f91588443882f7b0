//! The checked model of one `.defs` file: a subsystem, its routines and their
//! argument kinds, plus the wire facts each kind implies (sizes, dispositions,
//! received types).

/// A port disposition, as written inside `<...>` in a `.defs` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    MoveReceive,
    MoveSend,
    MoveSendOnce,
    CopySend,
    MakeSend,
    MakeSendOnce,
}

impl Disposition {
    pub const ALL: [Disposition; 6] = [
        Disposition::MoveReceive,
        Disposition::MoveSend,
        Disposition::MoveSendOnce,
        Disposition::CopySend,
        Disposition::MakeSend,
        Disposition::MakeSendOnce,
    ];

    /// The `.defs` keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            Disposition::MoveReceive => "move_receive",
            Disposition::MoveSend => "move_send",
            Disposition::MoveSendOnce => "move_send_once",
            Disposition::CopySend => "copy_send",
            Disposition::MakeSend => "make_send",
            Disposition::MakeSendOnce => "make_send_once",
        }
    }

    pub fn from_keyword(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.keyword() == s)
    }

    /// `MACH_MSG_TYPE_*` value put in a message being sent.
    pub fn value(self) -> u8 {
        match self {
            Disposition::MoveReceive => 16,
            Disposition::MoveSend => 17,
            Disposition::MoveSendOnce => 18,
            Disposition::CopySend => 19,
            Disposition::MakeSend => 20,
            Disposition::MakeSendOnce => 21,
        }
    }

    /// Name of the `mach_abi::message` constant for [`Self::value`].
    pub fn const_name(self) -> &'static str {
        match self {
            Disposition::MoveReceive => "MACH_MSG_TYPE_MOVE_RECEIVE",
            Disposition::MoveSend => "MACH_MSG_TYPE_MOVE_SEND",
            Disposition::MoveSendOnce => "MACH_MSG_TYPE_MOVE_SEND_ONCE",
            Disposition::CopySend => "MACH_MSG_TYPE_COPY_SEND",
            Disposition::MakeSend => "MACH_MSG_TYPE_MAKE_SEND",
            Disposition::MakeSendOnce => "MACH_MSG_TYPE_MAKE_SEND_ONCE",
        }
    }

    /// Name of the `mach_abi::message` constant for the type the receiver gets.
    pub fn received_const_name(self) -> &'static str {
        match self {
            Disposition::MoveReceive => "MACH_MSG_TYPE_PORT_RECEIVE",
            Disposition::MoveSend | Disposition::CopySend | Disposition::MakeSend => "MACH_MSG_TYPE_PORT_SEND",
            Disposition::MoveSendOnce | Disposition::MakeSendOnce => "MACH_MSG_TYPE_PORT_SEND_ONCE",
        }
    }
}

/// An inline scalar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    U32,
    I32,
    U64,
    I64,
}

impl Scalar {
    pub fn rust_type(self) -> &'static str {
        match self {
            Scalar::U32 => "u32",
            Scalar::I32 => "i32",
            Scalar::U64 => "u64",
            Scalar::I64 => "i64",
        }
    }

    pub fn size(self) -> usize {
        match self {
            Scalar::U32 | Scalar::I32 => 4,
            Scalar::U64 | Scalar::I64 => 8,
        }
    }
}

/// Element type of an out-of-line memory array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OolElem {
    U8,
    U32,
    U64,
}

impl OolElem {
    pub fn rust_type(self) -> &'static str {
        match self {
            OolElem::U8 => "u8",
            OolElem::U32 => "u32",
            OolElem::U64 => "u64",
        }
    }

    pub fn size(self) -> usize {
        match self {
            OolElem::U8 => 1,
            OolElem::U32 => 4,
            OolElem::U64 => 8,
        }
    }
}

/// What an argument is on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// Inline data.
    Scalar(Scalar),
    /// A port descriptor with a fixed disposition.
    Port(Disposition),
    /// A port descriptor whose disposition the sender picks at run time.
    PortPoly,
    /// An out-of-line memory descriptor.
    Ool(OolElem),
    /// An out-of-line ports descriptor with a fixed disposition.
    OolPorts(Disposition),
    /// An in-line byte array of at most this many bytes (`inline<u8, N>`):
    /// a `u32` count and the bytes, after every fixed field (see `layout.rs`).
    InlineBytes(usize),
}

pub const PORT_DESCRIPTOR_SIZE: usize = 12;
pub const OOL_DESCRIPTOR_SIZE: usize = 16;

impl ArgKind {
    /// Travels as a descriptor (rather than in the message body)?
    pub fn is_descriptor(self) -> bool {
        !matches!(self, ArgKind::Scalar(_) | ArgKind::InlineBytes(_))
    }

    /// An in-line array (variable size, placed after the fixed fields)?
    pub fn is_inline_array(self) -> bool {
        matches!(self, ArgKind::InlineBytes(_))
    }

    /// Bytes it takes in the message; for an in-line array, the most it
    /// can take (the count and `N` bytes padded to 4).
    pub fn wire_size(self) -> usize {
        match self {
            ArgKind::Scalar(s) => s.size(),
            ArgKind::Port(_) | ArgKind::PortPoly => PORT_DESCRIPTOR_SIZE,
            ArgKind::Ool(_) | ArgKind::OolPorts(_) => OOL_DESCRIPTOR_SIZE,
            ArgKind::InlineBytes(max) => inline_span(max),
        }
    }
}

/// Bytes of an in-line array's `u32` count.
pub const INLINE_COUNT_SIZE: usize = 4;

/// Bytes an in-line array of `len` bytes takes: its count, then the bytes
/// padded to a multiple of 4 (saturating: only ever used on checked sizes).
pub fn inline_span(len: usize) -> usize {
    (len.saturating_add(3) & !3).saturating_add(INLINE_COUNT_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_span_pads_to_four() {
        assert_eq!([0, 1, 3, 4, 5, 4096].map(inline_span), [4, 8, 8, 8, 12, 4100]);
    }
}

/// A 1-based source position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

/// One argument (input or output).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arg {
    pub name: String,
    pub kind: ArgKind,
    pub pos: Pos,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoutineKind {
    /// Request and reply.
    Routine,
    /// One-way request, never a reply.
    SimpleRoutine,
}

/// The destination of a request: travels in `msgh_remote_port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub disposition: Disposition,
}

/// One routine: its id, destination, inputs (after the target) and outputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routine {
    pub name: String,
    pub kind: RoutineKind,
    pub id: i32,
    pub target: Target,
    pub inputs: Vec<Arg>,
    pub outputs: Vec<Arg>,
    pub pos: Pos,
}

impl Routine {
    pub fn is_simple(&self) -> bool {
        self.kind == RoutineKind::SimpleRoutine
    }
}

/// A whole `.defs` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// The file name used in messages.
    pub file: String,
    pub subsystem: String,
    pub base: i32,
    pub routines: Vec<Routine>,
}
