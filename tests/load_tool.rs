//! `hotline tools load` against a whole hotline started in-process: the generator's library
//! entry point places real calls over loopback and its report must say what happened.

mod support;

use std::sync::Arc;
use std::time::Duration;

use hotline::ivr::Entry;
use hotline::media::PromptLibrary;
use hotline::tools::load::{Caller, FlowKind, Options, Report, run};
use support::hotline_harness::{Hotline, prompts_dir, start};

fn caller(phone: &str, code: &str) -> Caller {
    Caller {
        phone: phone.into(),
        code: code.into(),
    }
}

fn options(hotline: &Hotline, callers: Vec<Caller>) -> Options {
    let library = PromptLibrary::load(&prompts_dir()).expect("the repository's prompts");
    Options::new(hotline.server.sip_addr(), callers, Arc::new(library))
}

async fn load(options: Options) -> Report {
    let report = tokio::time::timeout(Duration::from_secs(150), run(options))
        .await
        .expect("the run ends")
        .expect("the run starts");
    println!("{report}");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_reset_calls_two_at_a_time_all_hear_a_password() {
    // Menu mode, as the service runs by default: the generator presses 8, then its code once
    // the "enter your code" prompt starts.
    let hotline = start(|config| config.ivr.entry = Entry::Menu).await;
    let callers: Vec<Caller> = (1..=4)
        .map(|i| caller(&format!("091300000{i}"), &format!("020000000{i}")))
        .collect();
    for c in &callers {
        hotline.add_account(&c.code, &c.phone, None).await;
    }
    let report = load(Options {
        calls: 4,
        concurrent: 2,
        rate: 10.0,
        ..options(&hotline, callers)
    })
    .await;
    assert_eq!((report.attempted, report.answered), (4, 4));
    assert_eq!(
        (report.completed, report.failed),
        (4, 0),
        "{:?}",
        report.failures
    );
    assert_eq!(report.outcomes["reset"], 4);
    assert_eq!(report.peak_concurrent, 2);
    assert!(report.rtp.packets > 4 * 500, "{:?}", report.rtp);
    assert_eq!(report.rtp.lost, 0);
    assert!(report.rtp.sent > 4 * 500, "{:?}", report.rtp);
    assert!(report.setup_ms.p50 > 0.0);
    assert!(report.call_seconds > 4.0 * 10.0);
    assert!(report.generator_cpu_s > 0.0);
    assert!(report.process_cpu_s >= report.generator_cpu_s);
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["outcomes"]["reset"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_whose_phone_does_not_match_is_a_failed_mismatch() {
    // Code mode (the PBX chose branch 8): the code is keyed over the welcome at once.
    let hotline = start(|config| config.ivr.entry = Entry::Code).await;
    hotline.add_account("0200000009", "0913000009", None).await;
    let report = load(Options {
        calls: 1,
        entry: Entry::Code,
        ..options(&hotline, vec![caller("0987654321", "0200000009")])
    })
    .await;
    assert_eq!((report.completed, report.failed), (0, 1));
    assert_eq!(report.outcomes["mismatch"], 1);
    assert_eq!(report.outcomes["reset"], 0);
    assert_eq!(
        report.failures["outcome mismatch"], 1,
        "{:?}",
        report.failures
    );
    assert!(report.rtp.packets > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_flow_hangs_up_itself_and_times_the_set_ups() {
    let hotline = start(|_| {}).await;
    let report = load(Options {
        calls: 6,
        concurrent: 3,
        rate: 50.0,
        flow: FlowKind::Answer,
        hold: Duration::from_millis(300),
        ..options(&hotline, vec![caller("0913000001", "0200000001")])
    })
    .await;
    assert_eq!(report.flow, "answer");
    assert_eq!((report.attempted, report.answered), (6, 6));
    assert_eq!(
        (report.completed, report.failed),
        (6, 0),
        "{:?}",
        report.failures
    );
    assert!(report.setup_ms.p50 > 0.0 && report.setup_ms.max >= report.setup_ms.p99);
    assert!(report.call_seconds >= 6.0 * 0.3, "{}", report.call_seconds);
    assert!(report.rtp.packets > 0, "the service talks while we hold");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_the_service_reuses_at_once_still_ends_every_call() {
    // One RTP port: each call's media comes from the port the previous call just gave back,
    // so the generator learns of the new call's media before it has finished the old call.
    let hotline = start(|config| {
        let even = config.media.rtp_port_min + config.media.rtp_port_min % 2;
        config.media.rtp_port_min = even;
        config.media.rtp_port_max = even + 1;
    })
    .await;
    let run = load(Options {
        calls: 4,
        concurrent: 1,
        rate: 50.0,
        flow: FlowKind::Answer,
        hold: Duration::from_millis(300),
        ..options(&hotline, vec![caller("0913000001", "0200000001")])
    });
    let report = tokio::time::timeout(Duration::from_secs(40), run)
        .await
        .expect("every call ends, and so does the run");
    // A new INVITE can arrive before the service has freed its one port: it then answers 503,
    // which is right. Every call is accounted for either way.
    assert_eq!(report.attempted, 4);
    assert_eq!(report.completed + report.failed, 4);
    assert!(report.completed >= 1, "{:?}", report.failures);
    assert!(
        report.failures.keys().all(|reason| reason == "status 503"),
        "{:?}",
        report.failures
    );
}

#[tokio::test]
async fn nobody_answering_fails_every_call_with_a_reason() {
    // A port where nothing listens: every INVITE times out… which takes 32 s, so instead a
    // socket that answers 503 to everything stands in for an overloaded service.
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let target = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_535];
        while let Ok((len, from)) = socket.recv_from(&mut buf).await {
            let text = String::from_utf8_lossy(&buf[..len]).into_owned();
            if !text.starts_with("INVITE ") {
                continue;
            }
            let mut reply = String::from("SIP/2.0 503 Service Unavailable\r\n");
            for line in text.lines().skip(1) {
                let name = line.split(':').next().unwrap_or("");
                if ["Via", "From", "Call-ID", "CSeq"].contains(&name) {
                    reply.push_str(line);
                    reply.push_str("\r\n");
                } else if name == "To" {
                    reply.push_str(line);
                    reply.push_str(";tag=busy\r\n");
                }
            }
            reply.push_str("Content-Length: 0\r\n\r\n");
            let _ = socket.send_to(reply.as_bytes(), from).await;
        }
    });
    let library = PromptLibrary::load(&prompts_dir()).unwrap();
    let report = load(Options {
        calls: 3,
        concurrent: 3,
        rate: 100.0,
        ..Options::new(
            target,
            vec![caller("0913000001", "0200000001")],
            Arc::new(library),
        )
    })
    .await;
    assert_eq!(
        (report.attempted, report.answered, report.failed),
        (3, 0, 3)
    );
    assert_eq!(report.failures["status 503"], 3);
}
