//! Debian's Chromium, headless, as a test's browser: the DOM of a page after it rendered, and a
//! screenshot of it. Each run has a fresh profile and nothing that phones home (updates, sync,
//! QUIC), and is killed if it has not finished within [`BROWSER_WAIT`].
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Far more than a local page takes, even on a loaded machine.
pub const BROWSER_WAIT: Duration = Duration::from_secs(60);

/// The page's DOM as Chromium has it once loaded (`--dump-dom`).
pub async fn dump_dom(url: &str) -> String {
    let out = run(&["--dump-dom", url]).await;
    String::from_utf8(out.stdout).expect("the DOM is UTF-8")
}

/// A `width`×`height` PNG screenshot of the page, written to `file`.
pub async fn screenshot(url: &str, file: &Path, width: u32, height: u32) {
    run(&[
        &format!("--screenshot={}", file.display()),
        &format!("--window-size={width},{height}"),
        url,
    ])
    .await;
    assert!(file.is_file(), "Chromium wrote no screenshot to {file:?}");
}

/// Runs Chromium with `args` on a blocking thread (the page's server may share this test's
/// runtime) and returns what it printed, once it exited successfully.
async fn run(args: &[&str]) -> Output {
    let profile = tempfile::tempdir().expect("profile directory");
    let mut command = Command::new(CHROMIUM);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = tokio::task::spawn_blocking(move || wait_bounded(command))
        .await
        .expect("the Chromium thread");
    drop(profile);
    assert!(
        out.status.success(),
        "chromium {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `command` to its end, killing it after [`BROWSER_WAIT`].
fn wait_bounded(mut command: Command) -> Output {
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {CHROMIUM}: {e} (apt-get install chromium)"));
    // Read stdout and stderr on their own threads so a full pipe never stalls the browser.
    let stdout = child.stdout.take().map(reader);
    let stderr = child.stderr.take().map(reader);
    let deadline = Instant::now() + BROWSER_WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {BROWSER_WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let collect = |handle: Option<std::thread::JoinHandle<Vec<u8>>>| {
        handle
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default()
    };
    Output {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    }
}

fn reader(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// A decoded RGBA image.
pub struct Screenshot {
    pub width: u32,
    pub height: u32,
    /// RGBA, row by row.
    pub pixels: Vec<u8>,
}

impl Screenshot {
    pub fn read(file: &Path) -> Screenshot {
        let reader = std::fs::File::open(file).expect("open the screenshot");
        let mut decoder = png::Decoder::new(std::io::BufReader::new(reader));
        decoder.set_transformations(png::Transformations::EXPAND);
        let mut png = decoder.read_info().expect("a PNG");
        let size = png.output_buffer_size().expect("a PNG of sane size");
        let mut buffer = vec![0; size];
        let frame = png.next_frame(&mut buffer).expect("the PNG's pixels");
        let channels = frame.color_type.samples();
        let rgba = buffer[..frame.buffer_size()]
            .chunks(channels)
            .flat_map(|px| match px {
                [r, g, b, a] => [*r, *g, *b, *a],
                [r, g, b] => [*r, *g, *b, 255],
                [l, a] => [*l, *l, *l, *a],
                [l] => [*l, *l, *l, 255],
                _ => [0, 0, 0, 0],
            })
            .collect();
        Screenshot {
            width: frame.width,
            height: frame.height,
            pixels: rgba,
        }
    }

    /// Pixels within `tolerance` (per channel) of the colour `rgb`.
    pub fn count_near(&self, rgb: [u8; 3], tolerance: u8) -> usize {
        self.pixels
            .chunks(4)
            .filter(|px| (0..3).all(|i| px[i].abs_diff(rgb[i]) <= tolerance))
            .count()
    }
}
