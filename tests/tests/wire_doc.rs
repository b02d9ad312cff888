//! The byte examples of `docs/PROTOCOL.md`, built by the runtime and compared byte for
//! byte, so the document a third party implements from cannot drift from the code.

use rpc_runtime::wire::handshake::OpenRequest;
use rpc_runtime::wire::{HANDSHAKE_SLOT, Header, Kind, Payload, Status};

/// Hex as the document writes it: pairs of digits, any whitespace between them.
fn hex(text: &str) -> Vec<u8> {
    let digits: String = text.split_whitespace().collect();
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn the_worked_example_of_the_protocol_doc_is_what_goes_on_the_wire() {
    let deposit = &examples::bank::bank_interface::methods::DEPOSIT;
    let object = examples::bank::bank_interface::OBJECT;
    assert_eq!(
        (deposit.id, deposit.fingerprint, object),
        (0x28a1_b7b5, 0xbac5_eb1c_546c_71d2, 0x6cd8_c693_e36a_8bf1)
    );
    let request = Header::request(
        (0x0123_4567_89ab_cdef, 0, 3),
        0,
        object,
        deposit.id,
        deposit.fingerprint,
    );
    let frame = Payload::encode(&(1u64, 100i64)).unwrap().seal(&request);
    assert_eq!(
        frame.frame(),
        hex("00 00 00 2b 03 00 00 00 ef 9b af cd f8 ac d1 91 01 00 03 00
             f1 97 aa 9b be d2 b1 ec 6c b5 ef 86 c5 02 d2 e3 b1 a3 c5 e3 fa e2 ba 01 01 c8 01")
    );
    let ok = Payload::encode(&100i64)
        .unwrap()
        .seal(&Header::reply_to(&request, Status::Ok));
    assert_eq!(
        ok.frame(),
        hex("00 00 00 2a 03 01 00 00 ef 9b af cd f8 ac d1 91 01 00 03 00
             f1 97 aa 9b be d2 b1 ec 6c b5 ef 86 c5 02 d2 e3 b1 a3 c5 e3 fa e2 ba 01 c8 01")
    );
    let raised = Payload::encode(&examples::bank::BankError::NotFound { id: 1 })
        .unwrap()
        .seal(&Header::reply_to(&request, Status::Exception));
    assert_eq!(
        raised.frame(),
        hex("00 00 00 2a 03 01 00 01 ef 9b af cd f8 ac d1 91 01 00 03 00
             f1 97 aa 9b be d2 b1 ec 6c b5 ef 86 c5 02 d2 e3 b1 a3 c5 e3 fa e2 ba 01 00 01")
    );
}

#[test]
fn the_open_example_of_the_protocol_doc_is_what_goes_on_the_wire() {
    let open = Payload::encode(&OpenRequest {
        slots: 4,
        client: None,
        padding: Vec::new(),
    })
    .unwrap()
    .seal(&Header::control(Kind::Open, 0, HANDSHAKE_SLOT, 42));
    assert_eq!(
        open.frame(),
        hex("00 00 00 12 03 03 00 00 00 ff ff ff ff 0f 2a 00 00 00 00 04 00 00")
    );
}
