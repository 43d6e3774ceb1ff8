//! The request dispatcher: one PDU in, one typed [`Request`] out, after
//! the header check and the size-table check. Nothing here trusts a byte
//! it has not bounds-checked.

use crate::error::{ProtoError, Result};
use crate::header::{Command, Header, HEADER_BYTES};
use crate::msg::cancel::CancelRequest;
use crate::msg::change_notify::ChangeNotifyRequest;
use crate::msg::close::CloseRequest;
use crate::msg::create::CreateRequest;
use crate::msg::echo::EchoRequest;
use crate::msg::flush::FlushRequest;
use crate::msg::ioctl::IoctlRequest;
use crate::msg::lock::LockRequest;
use crate::msg::logoff::LogoffRequest;
use crate::msg::negotiate::NegotiateRequest;
use crate::msg::oplock_break::OplockBreakRequest;
use crate::msg::query_directory::QueryDirectoryRequest;
use crate::msg::query_info::QueryInfoRequest;
use crate::msg::read::ReadRequest;
use crate::msg::session_setup::SessionSetupRequest;
use crate::msg::set_info::SetInfoRequest;
use crate::msg::tree_connect::TreeConnectRequest;
use crate::msg::tree_disconnect::TreeDisconnectRequest;
use crate::msg::write::WriteRequest;
use crate::validate::check_request;

/// Every request a client can send. Variants with a lifetime borrow their
/// payload (write data, IOCTL input, SET_INFO buffer) from the PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    Negotiate(NegotiateRequest),
    SessionSetup(SessionSetupRequest),
    Logoff(LogoffRequest),
    TreeConnect(TreeConnectRequest),
    TreeDisconnect(TreeDisconnectRequest),
    Create(CreateRequest),
    Close(CloseRequest),
    Flush(FlushRequest),
    Read(ReadRequest),
    Write(WriteRequest<'a>),
    Lock(LockRequest),
    Ioctl(IoctlRequest<'a>),
    Cancel(CancelRequest),
    Echo(EchoRequest),
    QueryDirectory(QueryDirectoryRequest),
    ChangeNotify(ChangeNotifyRequest),
    QueryInfo(QueryInfoRequest<'a>),
    SetInfo(SetInfoRequest<'a>),
    OplockBreak(OplockBreakRequest),
}

impl Request<'_> {
    pub fn command(&self) -> Command {
        match self {
            Request::Negotiate(_) => Command::Negotiate,
            Request::SessionSetup(_) => Command::SessionSetup,
            Request::Logoff(_) => Command::Logoff,
            Request::TreeConnect(_) => Command::TreeConnect,
            Request::TreeDisconnect(_) => Command::TreeDisconnect,
            Request::Create(_) => Command::Create,
            Request::Close(_) => Command::Close,
            Request::Flush(_) => Command::Flush,
            Request::Read(_) => Command::Read,
            Request::Write(_) => Command::Write,
            Request::Lock(_) => Command::Lock,
            Request::Ioctl(_) => Command::Ioctl,
            Request::Cancel(_) => Command::Cancel,
            Request::Echo(_) => Command::Echo,
            Request::QueryDirectory(_) => Command::QueryDirectory,
            Request::ChangeNotify(_) => Command::ChangeNotify,
            Request::QueryInfo(_) => Command::QueryInfo,
            Request::SetInfo(_) => Command::SetInfo,
            Request::OplockBreak(_) => Command::OplockBreak,
        }
    }
}

/// Decodes one request PDU (header included). A server that needs the
/// header to answer a malformed body calls [`Header::decode`] and then
/// [`decode_request_body`] itself.
pub fn parse_request(pdu: &[u8]) -> Result<Request<'_>> {
    let header = Header::decode(pdu)?;
    if header.is_response() {
        return Err(ProtoError::InvalidValue {
            field: "SMB2 header Flags (SERVER_TO_REDIR on a request)",
            value: header.flags.into(),
        });
    }
    decode_request_body(header.command, pdu)
}

/// Decodes the body of a request PDU whose header says `command`: the
/// size table first, then the command's decoder.
pub fn decode_request_body(command: Command, pdu: &[u8]) -> Result<Request<'_>> {
    let body = pdu.get(HEADER_BYTES..).ok_or(ProtoError::Truncated {
        what: "SMB2 header",
        offset: 0,
        need: HEADER_BYTES,
        have: pdu.len(),
    })?;
    check_request(command, body)?;
    Ok(match command {
        Command::Negotiate => Request::Negotiate(NegotiateRequest::decode(body, pdu)?),
        Command::SessionSetup => Request::SessionSetup(SessionSetupRequest::decode(body, pdu)?),
        Command::Logoff => Request::Logoff(LogoffRequest::decode(body, pdu)?),
        Command::TreeConnect => Request::TreeConnect(TreeConnectRequest::decode(body, pdu)?),
        Command::TreeDisconnect => Request::TreeDisconnect(TreeDisconnectRequest::decode(body, pdu)?),
        Command::Create => Request::Create(CreateRequest::decode(body, pdu)?),
        Command::Close => Request::Close(CloseRequest::decode(body, pdu)?),
        Command::Flush => Request::Flush(FlushRequest::decode(body, pdu)?),
        Command::Read => Request::Read(ReadRequest::decode(body, pdu)?),
        Command::Write => Request::Write(WriteRequest::decode(body, pdu)?),
        Command::Lock => Request::Lock(LockRequest::decode(body, pdu)?),
        Command::Ioctl => Request::Ioctl(IoctlRequest::decode(body, pdu)?),
        Command::Cancel => Request::Cancel(CancelRequest::decode(body, pdu)?),
        Command::Echo => Request::Echo(EchoRequest::decode(body, pdu)?),
        Command::QueryDirectory => Request::QueryDirectory(QueryDirectoryRequest::decode(body, pdu)?),
        Command::ChangeNotify => Request::ChangeNotify(ChangeNotifyRequest::decode(body, pdu)?),
        Command::QueryInfo => Request::QueryInfo(QueryInfoRequest::decode(body, pdu)?),
        Command::SetInfo => Request::SetInfo(SetInfoRequest::decode(body, pdu)?),
        Command::OplockBreak => Request::OplockBreak(OplockBreakRequest::decode(body, pdu)?),
    })
}
