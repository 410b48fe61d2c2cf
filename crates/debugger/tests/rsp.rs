//! End-to-end tests of the debugger over TCP on 127.0.0.1: a small GDB remote-serial-protocol
//! client (packet framing, checksums, acks, run-length decoding) drives the server while it
//! runs a program, and the test checks both what the client saw and what the run did.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm::{
    verify, Config, Executable, Loader, MemoryRegion, RuntimeError, TestContext, Vm, MM_INPUT_START,
};
use bpfvm_debugger::{CodeLayout, Debugged, Server, SessionEnd, Signal};
use bpfvm_isa::Dialect;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

/// How long the client waits for any byte before the test fails.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A minimal RSP client speaking with acks.
struct Client {
    stream: TcpStream,
}

fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |sum, b| sum.wrapping_add(*b))
}

impl Client {
    fn connect(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        Client { stream }
    }

    fn byte(&mut self) -> u8 {
        let mut byte = [0u8];
        self.stream
            .read_exact(&mut byte)
            .expect("a byte before the timeout");
        byte[0]
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends one packet and checks the server's ack.
    fn send(&mut self, body: &str) {
        let packet = format!("${body}#{:02x}", checksum(body.as_bytes()));
        self.send_raw(packet.as_bytes());
        assert_eq!(self.byte(), b'+', "ack for {body}");
    }

    /// Receives one packet, checks its checksum, acks it and decodes it.
    fn recv(&mut self) -> String {
        while self.byte() != b'$' {}
        let mut raw = Vec::new();
        loop {
            match self.byte() {
                b'#' => break,
                byte => raw.push(byte),
            }
        }
        let sum = [self.byte(), self.byte()];
        let sum = u8::from_str_radix(std::str::from_utf8(&sum).unwrap(), 16).unwrap();
        assert_eq!(
            sum,
            checksum(&raw),
            "checksum of {:?}",
            String::from_utf8_lossy(&raw)
        );
        self.send_raw(b"+");
        decode(&raw)
    }

    fn ask(&mut self, body: &str) -> String {
        self.send(body);
        self.recv()
    }

    /// Reads the `g` packet as twelve little-endian values.
    fn registers(&mut self) -> Vec<u64> {
        let reply = self.ask("g");
        assert_eq!(reply.len(), 12 * 16, "g reply {reply}");
        from_hex(&reply).chunks(8).map(le).collect()
    }

    fn register(&mut self, regnum: usize) -> u64 {
        le(&from_hex(&self.ask(&format!("p{regnum:x}"))))
    }

    fn memory(&mut self, vaddr: u64, len: usize) -> Vec<u8> {
        from_hex(&self.ask(&format!("m{vaddr:x},{len:x}")))
    }
}

/// Undoes the escapes (`}`) and run-length encoding (`*`) of a packet body.
fn decode(raw: &[u8]) -> String {
    let mut out: Vec<u8> = Vec::new();
    let mut bytes = raw.iter().copied();
    while let Some(byte) = bytes.next() {
        match byte {
            b'}' => out.push(bytes.next().unwrap() ^ 0x20),
            b'*' => {
                let count = bytes.next().unwrap() - 29;
                let last = *out.last().unwrap();
                out.extend(std::iter::repeat_n(last, usize::from(count)));
            }
            other => out.push(other),
        }
    }
    String::from_utf8(out).unwrap()
}

/// Whether `reply` is a stop with signal `signal` (`S` or `T` form).
fn is_stop(reply: &str, signal: u8) -> bool {
    let code = format!("{signal:02x}");
    (reply.starts_with('S') || reply.starts_with('T')) && reply.get(1..3) == Some(code.as_str())
}

fn from_hex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn le(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().unwrap())
}

/// What a session left: the server's result, the input after the run, the layout.
struct Outcome {
    debugged: Debugged,
    input: Vec<u8>,
}

/// Assembles `source` (sBPF), serves it on an ephemeral port and runs `script` as the
/// client; returns when both sides are done.
fn session(
    source: &str,
    input: &[u8],
    budget: u64,
    script: impl FnOnce(&mut Client, CodeLayout) + Send + 'static,
) -> Outcome {
    let bytes = bpfvm_asm::assemble(source, Dialect::Sbpf).unwrap().bytes;
    let loader = Arc::new(Loader::<TestContext>::new(Config::default()));
    let executable = Executable::from_raw_program(&bytes, loader, Dialect::Sbpf).unwrap();
    let program = verify(executable).unwrap();
    let layout = CodeLayout::of(program.executable());
    let server = Server::bind(0).unwrap();
    let port = server.port().unwrap();
    let client = std::thread::spawn(move || {
        let mut client = Client::connect(port);
        script(&mut client, layout);
    });
    let mut context = TestContext::new(budget);
    let mut heap = vec![0u8; 64];
    let mut input = input.to_vec();
    let debugged = {
        let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
        let mut vm = Vm::new(&program, &mut context, &mut heap, regions).unwrap();
        server.serve(&mut vm, layout).unwrap()
    };
    if let Err(panic) = client.join() {
        std::panic::resume_unwind(panic);
    }
    Outcome { debugged, input }
}

/// Loads the input, adds 5, stores it after the input's first word, returns it plus r3.
const ARITHMETIC: &str = "
    ldxdw r2, [r1+0]
    add64 r2, 5
    stxdw [r1+8], r2
    mov64 r0, r2
    add64 r0, r3
    exit
";

const BUDGET: u64 = 1000;

#[test]
fn registers_memory_breakpoint_step_and_exit() {
    let input = [0x10u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let outcome = session(ARITHMETIC, &input, BUDGET, move |client, layout| {
        assert!(is_stop(&client.ask("?"), 5));
        // The initial stop: r1 is the input, r10 the stack, pc the entry's guest address.
        let regs = client.registers();
        assert_eq!(regs[1], MM_INPUT_START);
        assert_eq!(regs[11], layout.address(0));
        assert_eq!(regs[11], layout.text_vaddr);
        assert_ne!(regs[10], 0);
        assert_eq!(client.register(12), BUDGET, "remaining");
        assert_eq!(client.register(11), layout.address(0));
        // The instruction's bytes are readable at the pc.
        assert_eq!(client.memory(layout.address(0), 8)[0], 0x79, "ldxdw opcode");
        // Memory: read the input, write it, read it back.
        assert_eq!(client.memory(MM_INPUT_START, 8), input[..8]);
        let word = 0x20u64.to_le_bytes();
        let write = format!("M{MM_INPUT_START:x},8:{}", hex(&word));
        assert_eq!(client.ask(&write), "OK");
        assert_eq!(client.memory(MM_INPUT_START, 8), word);
        // Unmapped memory and read-only memory refuse.
        assert!(client.ask("m10,8").starts_with('E'));
        assert!(client
            .ask(&format!("M{:x},1:00", layout.address(0)))
            .starts_with('E'));
        // A register write; the pc and the remaining budget are read-only.
        assert_eq!(
            client.ask(&format!("P3={}", hex(&7u64.to_le_bytes()))),
            "OK"
        );
        assert_eq!(client.register(3), 7);
        assert!(client
            .ask(&format!("Pb={}", hex(&0u64.to_le_bytes())))
            .starts_with('E'));
        assert!(client
            .ask(&format!("Pc={}", hex(&1u64.to_le_bytes())))
            .starts_with('E'));
        // Breakpoints go on instruction addresses only.
        let at_mov = layout.address(3);
        assert_eq!(client.ask(&format!("Z0,{at_mov:x},8")), "OK");
        assert!(client
            .ask(&format!("Z0,{:x},8", at_mov + 1))
            .starts_with('E'));
        assert!(client.ask("Z0,0,8").starts_with('E'));
        // Continue to the breakpoint: three instructions ran.
        let stop = client.ask("c");
        assert!(is_stop(&stop, 5), "{stop}");
        let regs = client.registers();
        assert_eq!(regs[11], at_mov);
        assert_eq!(regs[2], 0x25);
        assert_eq!(client.register(12), BUDGET - 3);
        assert_eq!(client.memory(MM_INPUT_START + 8, 8), 0x25u64.to_le_bytes());
        // One step.
        let stop = client.ask("s");
        assert!(is_stop(&stop, 5), "{stop}");
        let regs = client.registers();
        assert_eq!(regs[11], layout.address(4));
        assert_eq!(regs[0], 0x25);
        // Remove the breakpoint and run to the end: r0 = 0x25 + 7.
        assert_eq!(client.ask(&format!("z0,{at_mov:x},8")), "OK");
        assert_eq!(client.ask("c"), "W2c");
    });
    assert_eq!(outcome.debugged.run.result, Ok(0x2c));
    assert_eq!(outcome.debugged.run.instruction_count, 6);
    assert_eq!(outcome.debugged.end, SessionEnd::Exited(0x2c));
    assert_eq!(outcome.debugged.protocol_error, None);
    assert_eq!(outcome.input[..8], 0x20u64.to_le_bytes());
    assert_eq!(outcome.input[8..], 0x25u64.to_le_bytes());
}

#[test]
fn breakpoint_in_a_loop_stops_every_iteration() {
    let source = "
        mov64 r0, 0
    lbb_1:
        add64 r0, 1
        jlt r0, 3, lbb_1
        exit
    ";
    let outcome = session(source, &[], BUDGET, |client, layout| {
        assert_eq!(client.ask(&format!("Z0,{:x},8", layout.address(1))), "OK");
        let actions = client.ask("vCont?");
        assert!(
            actions.contains(";c") && actions.contains(";s"),
            "{actions}"
        );
        for expected in 0..3u64 {
            // GDB resumes with vCont; plain `c` is the same.
            let resume = ["c", "vCont;c"][expected as usize % 2];
            assert!(is_stop(&client.ask(resume), 5));
            let regs = client.registers();
            assert_eq!((regs[11], regs[0]), (layout.address(1), expected));
        }
        assert_eq!(client.ask("c"), "W03");
    });
    assert_eq!(outcome.debugged.end, SessionEnd::Exited(3));
}

#[test]
fn an_error_is_a_stop_with_a_signal_then_termination() {
    let source = "
        mov64 r2, 0
        mov64 r0, 9
        div64 r0, r2
        exit
    ";
    let outcome = session(source, &[0u8; 8], BUDGET, |client, layout| {
        let stop = client.ask("c");
        assert!(is_stop(&stop, 8), "{stop}");
        // Inspectable at the faulting instruction, registers as before it.
        let regs = client.registers();
        assert_eq!((regs[11], regs[0], regs[2]), (layout.address(2), 9, 0));
        assert_eq!(client.memory(MM_INPUT_START, 8), [0u8; 8]);
        assert_eq!(client.ask("c"), "X08");
    });
    assert_eq!(
        outcome.debugged.run.result,
        Err(RuntimeError::DivideByZero { pc: 2 })
    );
    assert_eq!(outcome.debugged.end, SessionEnd::Terminated(Signal::SIGFPE));
}

#[test]
fn access_violation_is_sigsegv_and_kill_after_it_ends_the_session() {
    let source = "
        mov64 r1, 16
        ldxdw r0, [r1+0]
        exit
    ";
    let outcome = session(source, &[], BUDGET, |client, _| {
        let stop = client.ask("c");
        assert!(is_stop(&stop, 11), "{stop}");
        client.send("k");
    });
    assert!(matches!(
        outcome.debugged.run.result,
        Err(RuntimeError::AccessViolation { pc: 1, .. })
    ));
    assert_eq!(outcome.debugged.end, SessionEnd::Killed);
}

#[test]
fn kill_stops_the_run_where_it_is() {
    let outcome = session(ARITHMETIC, &[0u8; 16], BUDGET, |client, _| {
        assert!(is_stop(&client.ask("s"), 5));
        client.send("k");
    });
    assert_eq!(outcome.debugged.end, SessionEnd::Killed);
    assert_eq!(outcome.debugged.run.instruction_count, 1);
    assert!(matches!(
        outcome.debugged.run.result,
        Err(RuntimeError::UserError { .. })
    ));
    assert_eq!(outcome.input, [0u8; 16], "the store never ran");
}

#[test]
fn detach_lets_the_program_run_to_its_end() {
    let outcome = session(ARITHMETIC, &[1u8; 16], BUDGET, |client, layout| {
        assert_eq!(client.ask(&format!("Z0,{:x},8", layout.address(4))), "OK");
        assert_eq!(client.ask("D"), "OK");
    });
    assert_eq!(outcome.debugged.end, SessionEnd::Detached);
    assert_eq!(outcome.debugged.run.result, Ok(0x0101_0101_0101_0106));
}

#[test]
fn interrupt_stops_a_running_loop() {
    let source = "
    lbb_0:
        add64 r0, 1
        ja lbb_0
    ";
    // A budget the hooked interpreter needs seconds for, so a lost interrupt cannot hang the test.
    let outcome = session(source, &[], 50_000_000, |client, layout| {
        client.send("c");
        std::thread::sleep(Duration::from_millis(50));
        client.send_raw(&[0x03]);
        let stop = client.recv();
        assert!(is_stop(&stop, 2), "{stop}");
        let regs = client.registers();
        assert!(regs[0] > 0, "the loop ran");
        assert!(regs[11] == layout.address(0) || regs[11] == layout.address(1));
        client.send("k");
    });
    assert_eq!(outcome.debugged.end, SessionEnd::Killed);
}

#[test]
fn target_description_names_the_registers() {
    session(ARITHMETIC, &[0u8; 16], BUDGET, |client, _| {
        let supported = client.ask("qSupported:xmlRegisters=i386;swbreak+");
        assert!(supported.contains("qXfer:features:read+"), "{supported}");
        let mut xml = String::new();
        loop {
            let offset = xml.len();
            let chunk = client.ask(&format!("qXfer:features:read:target.xml:{offset:x},100"));
            xml.push_str(&chunk[1..]);
            match &chunk[..1] {
                "m" => {}
                "l" => break,
                other => panic!("qXfer reply {other}"),
            }
        }
        assert_eq!(xml, bpfvm_debugger::arch::TARGET_XML);
        for name in [
            "<architecture>bpf</architecture>",
            "\"r10\"",
            "\"pc\"",
            "\"remaining\"",
        ] {
            assert!(xml.contains(name), "{name} in {xml}");
        }
        assert!(client.ask("qRegisterInfo0").contains("name:r0"));
        assert!(client.ask("qRegisterInfoc").contains("name:remaining"));
        client.send("k");
    });
}

#[test]
fn malformed_packets_never_panic() {
    for garbage in [
        &b"$mzz,4#"[..],
        b"$g#00",
        b"$M400000000,2:zz#",
        b"$Pzz=1#",
        b"$Z0,,#",
    ] {
        let garbage = garbage.to_vec();
        let outcome = session(ARITHMETIC, &[2u8; 16], BUDGET, move |client, _| {
            assert!(is_stop(&client.ask("?"), 5));
            let mut packet = garbage.clone();
            if packet.ends_with(b"#") {
                let body = &packet[1..packet.len() - 1];
                let sum = format!("{:02x}", checksum(body));
                packet.extend_from_slice(sum.as_bytes());
            }
            client.send_raw(&packet);
            // Whatever the server answers, it must not hang or panic; the client then leaves.
            client
                .stream
                .set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let mut rest = Vec::new();
            let _ = client.stream.read_to_end(&mut rest);
        });
        // The server either answered and went on, or gave up on the client and let the
        // program run to its end; it never panicked.
        assert_eq!(outcome.debugged.run.result, Ok(0x0202_0202_0202_0207));
        assert_eq!(outcome.debugged.end, SessionEnd::Detached);
    }
}
