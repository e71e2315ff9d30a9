//! The prompt library: every clip loaded once, checked, and pre-encoded into 20 ms G.711 frames
//! for both codecs, so that playing a prompt during a call costs a memcpy and no CPU.
//!
//! Clips must be 8 kHz mono 16-bit integer PCM WAV. Anything else is refused at start-up with
//! the file named and the exact problem, rather than resampled: a wrong file is an operator
//! mistake worth seeing, and resampling would hide it (and cost quality). Every problem in the
//! directory is reported at once, so an operator fixes them in one round.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hound::{SampleFormat, WavReader};

use super::codec::{Codec, FRAME_SAMPLES, Frame};
use crate::domain::Clip;

/// The only sample rate G.711 carries; prompts are stored at it so no resampling is ever needed.
pub const SAMPLE_RATE: u32 = 8000;

/// What is wrong with one prompt file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromptProblem {
    #[error("missing")]
    Missing,
    #[error("cannot be read: {0}")]
    Unreadable(String),
    #[error("not a WAV file: {0}")]
    NotWav(String),
    #[error("sample rate is {0} Hz, expected 8000")]
    SampleRate(u32),
    #[error("{0} channels, expected mono")]
    Channels(u16),
    #[error("{0}, expected 16-bit PCM")]
    SampleFormat(String),
    #[error("audio data is damaged: {0}")]
    Corrupt(String),
    #[error("holds no audio")]
    Empty,
}

/// One problem with one file, displayed as `prompts/vi/menu.wav: sample rate is 16000 Hz, …`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct PromptError {
    pub path: PathBuf,
    pub problem: PromptProblem,
}

/// Every problem found in a prompt directory, one per line when displayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptErrors(pub Vec<PromptError>);

impl fmt::Display for PromptErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PromptErrors {}

/// One clip, decoded and encoded once.
struct EncodedClip {
    pcmu: Vec<Frame>,
    pcma: Vec<Frame>,
    samples: usize,
    /// Largest absolute sample value, for `prompts check`.
    peak: u16,
}

impl EncodedClip {
    fn new(pcm: &[i16]) -> EncodedClip {
        let encode_all = |codec: Codec| {
            pcm.chunks(FRAME_SAMPLES)
                .map(|chunk| {
                    // The last chunk may be short: the rest of its frame stays silence.
                    let mut frame = *codec.silence_frame();
                    codec.encode(chunk, &mut frame);
                    frame
                })
                .collect()
        };
        EncodedClip {
            pcmu: encode_all(Codec::Pcmu),
            pcma: encode_all(Codec::Pcma),
            samples: pcm.len(),
            peak: pcm.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0),
        }
    }
}

/// Every [`Clip`], ready to play in either codec. Built once at start-up and shared by all calls.
pub struct PromptLibrary {
    clips: BTreeMap<Clip, EncodedClip>,
}

impl fmt::Debug for PromptLibrary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PromptLibrary")
            .field("clips", &self.clips.len())
            .finish()
    }
}

impl PromptLibrary {
    /// Loads every clip of [`Clip::all`] from `dir`, or reports every file that is missing or
    /// not 8 kHz mono 16-bit PCM.
    pub fn load(dir: &Path) -> Result<PromptLibrary, PromptErrors> {
        let mut clips = BTreeMap::new();
        let mut errors = Vec::new();
        for clip in Clip::all() {
            let path = dir.join(clip.relative_path());
            match read_wav(&path) {
                Ok(pcm) => {
                    clips.insert(clip, EncodedClip::new(&pcm));
                }
                Err(problems) => errors.extend(problems.into_iter().map(|problem| PromptError {
                    path: path.clone(),
                    problem,
                })),
            }
        }
        if errors.is_empty() {
            Ok(PromptLibrary { clips })
        } else {
            Err(PromptErrors(errors))
        }
    }

    /// Builds a library from samples already in memory (8 kHz mono), e.g. generated audio in
    /// tests. Every clip must be present and non-empty; errors name the clip's relative path.
    pub fn from_samples(
        samples: impl IntoIterator<Item = (Clip, Vec<i16>)>,
    ) -> Result<PromptLibrary, PromptErrors> {
        let given: BTreeMap<Clip, Vec<i16>> = samples.into_iter().collect();
        let mut clips = BTreeMap::new();
        let mut errors = Vec::new();
        for clip in Clip::all() {
            let problem = match given.get(&clip) {
                None => PromptProblem::Missing,
                Some(pcm) if pcm.is_empty() => PromptProblem::Empty,
                Some(pcm) => {
                    clips.insert(clip, EncodedClip::new(pcm));
                    continue;
                }
            };
            errors.push(PromptError {
                path: PathBuf::from(clip.relative_path()),
                problem,
            });
        }
        if errors.is_empty() {
            Ok(PromptLibrary { clips })
        } else {
            Err(PromptErrors(errors))
        }
    }

    /// The clip's 20 ms frames in `codec`; the last one padded with silence.
    pub fn frames(&self, clip: Clip, codec: Codec) -> &[Frame] {
        match (self.clips.get(&clip), codec) {
            (Some(encoded), Codec::Pcmu) => &encoded.pcmu,
            (Some(encoded), Codec::Pcma) => &encoded.pcma,
            // Unreachable once loaded (load requires every clip), but never worth a panic.
            (None, _) => &[],
        }
    }

    /// How long the clip's audio lasts (before padding to whole frames).
    pub fn duration(&self, clip: Clip) -> Duration {
        let samples = self.clips.get(&clip).map_or(0, |c| c.samples);
        Duration::from_micros(samples as u64 * 1_000_000 / u64::from(SAMPLE_RATE))
    }

    /// Duration and peak level of every clip, for `hotline prompts check`.
    pub fn report(&self) -> CheckReport {
        let clips = self
            .clips
            .iter()
            .map(|(&clip, encoded)| ClipReport {
                clip,
                path: clip.relative_path(),
                duration: self.duration(clip),
                peak: encoded.peak,
            })
            .collect();
        CheckReport { clips }
    }
}

/// Loads `dir` as [`PromptLibrary::load`] does and describes what it holds.
pub fn check(dir: &Path) -> Result<CheckReport, PromptErrors> {
    PromptLibrary::load(dir).map(|library| library.report())
}

/// What `hotline prompts check` prints: one line per clip.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    pub clips: Vec<ClipReport>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClipReport {
    pub clip: Clip,
    /// Relative to the prompt directory, e.g. `digits/7.wav`.
    pub path: String,
    pub duration: Duration,
    /// Largest absolute sample value (0..=32768).
    pub peak: u16,
}

impl ClipReport {
    /// Peak level in dBFS (0 = full scale); `None` for a silent clip.
    pub fn peak_dbfs(&self) -> Option<f64> {
        (self.peak > 0).then(|| 20.0 * (f64::from(self.peak) / 32768.0).log10())
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for clip in &self.clips {
            let peak = match clip.peak_dbfs() {
                Some(db) => format!("{db:6.1} dBFS peak"),
                None => "silent".to_owned(),
            };
            writeln!(
                f,
                "{:<24} {:>6.2} s  {peak}",
                clip.path,
                clip.duration.as_secs_f64()
            )?;
        }
        Ok(())
    }
}

/// Reads one WAV file into samples, or lists everything wrong with it.
fn read_wav(path: &Path) -> Result<Vec<i16>, Vec<PromptProblem>> {
    let bytes = std::fs::read(path).map_err(|e| {
        vec![match e.kind() {
            std::io::ErrorKind::NotFound => PromptProblem::Missing,
            _ => PromptProblem::Unreadable(e.to_string()),
        }]
    })?;
    let reader = WavReader::new(Cursor::new(&bytes)).map_err(|e| {
        vec![match e {
            // hound refuses compressed formats before telling us which: name it ourselves.
            hound::Error::Unsupported => {
                PromptProblem::SampleFormat(describe_format_tag(wav_format_tag(&bytes)))
            }
            other => PromptProblem::NotWav(other.to_string()),
        }]
    })?;
    let spec = reader.spec();
    let mut problems = Vec::new();
    if spec.sample_rate != SAMPLE_RATE {
        problems.push(PromptProblem::SampleRate(spec.sample_rate));
    }
    if spec.channels != 1 {
        problems.push(PromptProblem::Channels(spec.channels));
    }
    match (spec.sample_format, spec.bits_per_sample) {
        (SampleFormat::Int, 16) => {}
        (SampleFormat::Int, bits) => {
            problems.push(PromptProblem::SampleFormat(format!("{bits}-bit PCM")))
        }
        (SampleFormat::Float, bits) => {
            problems.push(PromptProblem::SampleFormat(format!("{bits}-bit float")))
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let pcm = reader
        .into_samples::<i16>()
        .collect::<Result<Vec<i16>, _>>()
        .map_err(|e| vec![PromptProblem::Corrupt(e.to_string())])?;
    if pcm.is_empty() {
        return Err(vec![PromptProblem::Empty]);
    }
    Ok(pcm)
}

/// The `wFormatTag` of a RIFF/WAVE file's `fmt ` chunk, found by walking the chunks. Only used
/// to explain a file hound refused; `None` when the bytes do not get that far.
fn wav_format_tag(bytes: &[u8]) -> Option<u16> {
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    let mut at = 12; // "RIFF" <size> "WAVE"
    loop {
        let id = bytes.get(at..at + 4)?;
        let len = usize::try_from(u32_at(at + 4)?).ok()?;
        if id == b"fmt " {
            return Some(u16::from_le_bytes(
                bytes.get(at + 8..at + 10)?.try_into().ok()?,
            ));
        }
        // Chunks are padded to an even length.
        at = at.checked_add(8)?.checked_add(len)?.checked_add(len % 2)?;
    }
}

fn describe_format_tag(tag: Option<u16>) -> String {
    match tag {
        Some(0x0002) => "MS ADPCM".to_owned(),
        Some(0x0006) => "A-law".to_owned(),
        Some(0x0007) => "µ-law".to_owned(),
        Some(0x0011) => "IMA ADPCM".to_owned(),
        Some(0xFFFE) => "an unsupported WAVE_FORMAT_EXTENSIBLE subformat".to_owned(),
        Some(tag) => format!("unsupported format tag 0x{tag:04X}"),
        None => "an unsupported format".to_owned(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::Prompt;
    use hound::{WavSpec, WavWriter};

    /// Distinct audio for every clip: a tone whose frequency and length depend on the clip, so
    /// no two clips share a frame.
    pub(crate) fn test_samples(clip: Clip) -> Vec<i16> {
        let index = Clip::all().position(|c| c == clip).unwrap_or(0);
        let freq = 300.0 + 97.0 * index as f64;
        let len = 410 + 40 * index; // about 50 ms and up; never a whole number of frames
        (0..len)
            .map(|n| {
                let phase = 2.0 * std::f64::consts::PI * freq * n as f64 / 8000.0;
                (phase.sin() * 12000.0) as i16
            })
            .collect()
    }

    pub(crate) fn test_library() -> PromptLibrary {
        PromptLibrary::from_samples(Clip::all().map(|c| (c, test_samples(c))))
            .expect("every clip generated")
    }

    fn spec(sample_rate: u32, channels: u16, bits: u16, format: SampleFormat) -> WavSpec {
        WavSpec {
            channels,
            sample_rate,
            bits_per_sample: bits,
            sample_format: format,
        }
    }

    fn write_wav(path: &Path, spec: WavSpec, frames: usize) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut writer = WavWriter::create(path, spec).unwrap();
        for n in 0..frames * usize::from(spec.channels) {
            match (spec.sample_format, spec.bits_per_sample) {
                (SampleFormat::Float, _) => writer.write_sample(0.25f32).unwrap(),
                (_, 8) => writer.write_sample((n % 100) as i8).unwrap(),
                _ => writer.write_sample((n % 1000) as i16).unwrap(),
            }
        }
        writer.finalize().unwrap();
    }

    fn write_good_dir(dir: &Path) {
        for clip in Clip::all() {
            let path = dir.join(clip.relative_path());
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let mut writer =
                WavWriter::create(&path, spec(8000, 1, 16, SampleFormat::Int)).unwrap();
            for s in test_samples(clip) {
                writer.write_sample(s).unwrap();
            }
            writer.finalize().unwrap();
        }
    }

    /// A minimal WAV header with a G.711 format tag, as `sox -e mu-law` writes.
    fn g711_wav(tag: u16) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(4u32 + 26 + 8 + 4).to_le_bytes());
        b.extend_from_slice(b"WAVE");
        b.extend_from_slice(b"fmt ");
        b.extend_from_slice(&18u32.to_le_bytes());
        b.extend_from_slice(&tag.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes()); // channels
        b.extend_from_slice(&8000u32.to_le_bytes());
        b.extend_from_slice(&8000u32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes()); // block align
        b.extend_from_slice(&8u16.to_le_bytes()); // bits
        b.extend_from_slice(&0u16.to_le_bytes()); // cbSize
        b.extend_from_slice(b"data");
        b.extend_from_slice(&4u32.to_le_bytes());
        b.extend_from_slice(&[0xFF; 4]);
        b
    }

    fn messages(errors: &PromptErrors) -> Vec<String> {
        errors.0.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn loads_a_good_directory_and_pre_encodes_both_codecs() {
        let dir = tempfile::tempdir().unwrap();
        write_good_dir(dir.path());
        let library = PromptLibrary::load(dir.path()).unwrap();
        let clip = Clip::Prompt(Prompt::Menu);
        let pcm = test_samples(clip);
        for codec in Codec::ALL {
            let frames = library.frames(clip, codec);
            assert_eq!(frames.len(), pcm.len().div_ceil(FRAME_SAMPLES));
            let mut expected = vec![0u8; pcm.len()];
            codec.encode(&pcm, &mut expected);
            let flat: Vec<u8> = frames.iter().flatten().copied().collect();
            assert_eq!(&flat[..pcm.len()], &expected[..]);
            // The padding of the last frame is silence, not zeros.
            assert!(flat[pcm.len()..].iter().all(|&b| b == codec.silence_byte()));
            assert!(!flat[pcm.len()..].is_empty());
        }
        assert_eq!(
            library.duration(clip),
            Duration::from_micros(pcm.len() as u64 * 125)
        );
    }

    #[test]
    fn check_reports_duration_and_peak_per_clip() {
        let dir = tempfile::tempdir().unwrap();
        write_good_dir(dir.path());
        let report = check(dir.path()).unwrap();
        assert_eq!(report.clips.len(), 26);
        let digit = report
            .clips
            .iter()
            .find(|c| c.path == "digits/7.wav")
            .unwrap();
        let pcm = test_samples(Clip::Digit(7));
        assert_eq!(
            digit.duration,
            Duration::from_micros(pcm.len() as u64 * 125)
        );
        let peak = pcm.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert_eq!(digit.peak, peak);
        // 12000 / 32768 is about -8.7 dBFS.
        let db = digit.peak_dbfs().unwrap();
        assert!((-8.8..-8.6).contains(&db), "{db}");
        assert!(report.to_string().contains("digits/7.wav"));
    }

    #[test]
    fn reports_every_wrong_file_naming_it_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        write_good_dir(dir.path());
        let d = dir.path();
        write_wav(
            &d.join("menu.wav"),
            spec(16000, 1, 16, SampleFormat::Int),
            100,
        );
        write_wav(
            &d.join("welcome.wav"),
            spec(8000, 2, 16, SampleFormat::Int),
            100,
        );
        write_wav(
            &d.join("goodbye.wav"),
            spec(8000, 1, 8, SampleFormat::Int),
            100,
        );
        write_wav(
            &d.join("mismatch.wav"),
            spec(8000, 1, 32, SampleFormat::Float),
            100,
        );
        write_wav(
            &d.join("no_input.wav"),
            spec(8000, 1, 16, SampleFormat::Int),
            0,
        );
        write_wav(
            &d.join("anonymous.wav"),
            spec(44100, 2, 16, SampleFormat::Int),
            10,
        );
        std::fs::write(d.join("digits/3.wav"), g711_wav(7)).unwrap();
        std::fs::write(d.join("digits/4.wav"), g711_wav(6)).unwrap();
        std::fs::write(d.join("digits/5.wav"), b"ID3 this is an mp3").unwrap();
        std::fs::remove_file(d.join("digits/9.wav")).unwrap();

        let errors = PromptLibrary::load(d).unwrap_err();
        let got = messages(&errors);
        let path = |p: &str| d.join(p).display().to_string();
        let expected = [
            format!(
                "{}: sample rate is 16000 Hz, expected 8000",
                path("menu.wav")
            ),
            format!("{}: 2 channels, expected mono", path("welcome.wav")),
            format!("{}: 8-bit PCM, expected 16-bit PCM", path("goodbye.wav")),
            format!(
                "{}: 32-bit float, expected 16-bit PCM",
                path("mismatch.wav")
            ),
            format!("{}: holds no audio", path("no_input.wav")),
            format!(
                "{}: sample rate is 44100 Hz, expected 8000",
                path("anonymous.wav")
            ),
            format!("{}: 2 channels, expected mono", path("anonymous.wav")),
            format!("{}: µ-law, expected 16-bit PCM", path("digits/3.wav")),
            format!("{}: A-law, expected 16-bit PCM", path("digits/4.wav")),
            format!("{}: missing", path("digits/9.wav")),
        ];
        for line in &expected {
            assert!(got.contains(line), "missing {line:?} in {got:#?}");
        }
        let not_wav = format!("{}: not a WAV file: ", path("digits/5.wav"));
        assert!(got.iter().any(|l| l.starts_with(&not_wav)), "{got:#?}");
        assert_eq!(got.len(), expected.len() + 1, "{got:#?}");
        assert_eq!(errors.to_string().lines().count(), got.len());
    }

    #[test]
    fn an_empty_directory_lists_all_24_files_as_missing() {
        let dir = tempfile::tempdir().unwrap();
        let errors = check(dir.path()).unwrap_err();
        assert_eq!(errors.0.len(), 26);
        assert!(errors.0.iter().all(|e| e.problem == PromptProblem::Missing));
    }

    #[test]
    fn format_tag_sniffing_never_panics_on_garbage() {
        assert_eq!(wav_format_tag(&g711_wav(7)), Some(7));
        for len in 0..40 {
            let _ = wav_format_tag(&g711_wav(7)[..len]);
        }
        let mut huge = g711_wav(7);
        huge[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        huge[12..16].copy_from_slice(b"LIST");
        assert_eq!(wav_format_tag(&huge), None);
    }

    #[test]
    fn from_samples_requires_every_clip() {
        let errors = PromptLibrary::from_samples(
            Clip::all()
                .filter(|c| *c != Clip::Digit(0))
                .map(|c| (c, if c == Clip::Digit(1) { vec![] } else { vec![1] })),
        )
        .unwrap_err();
        assert_eq!(
            messages(&errors),
            ["digits/0.wav: missing", "digits/1.wav: holds no audio"]
        );
    }
}
