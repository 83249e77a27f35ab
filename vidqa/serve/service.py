"""What a server does, without HTTP: the library, warm models, indexing jobs, find and ask.

Every request goes through one `Service`, and every run through `vidqa.pipeline.Pipeline`
with the service's shared `Tools` (the OCR engine, the embedder and the model, each loaded once
and kept warm). Videos indexed before are recognised from the caches (`Pipeline.load`, no work
done) by a thread that checks each new file once; a video indexed here, or found indexed, stays
in memory, so a search reads no file.

A chat request may also send its video inside itself (a data URL, `input_audio`): it is kept in
the cache (`vidqa.serve.received`) and indexed and answered like a served video, as an entry
of its own that no route lists or serves. Frames sent without a video are answered from as
they are (`ask_frames`): in order, with no times. A picture sent to `find` (`picture`) is
checked from its bytes, decoded once and looked for in the videos' key frames; it is kept
nowhere.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidqa.config import Config
from vidqa.paths import cache_dir
from vidqa.errors import VidqaError
from vidqa.pipeline import Pipeline, no_progress
from vidqa.plan import VideoRun
from vidqa.serve.jobs import Cancelled, Job, Jobs
from vidqa.serve.library import Entry, Library, Refused, video_id
from vidqa.tools import Tools

if TYPE_CHECKING:
    from vidqa.search.pictures import Picture

# What Chromium, Firefox and Safari play in a <video> element without help.
PLAYABLE_VIDEO = {"h264", "vp8", "vp9", "av1"}
PLAYABLE_AUDIO = {"aac", "mp3", "opus", "vorbis", "flac",
                  "aac_fixed", "mp3float", "libopus", "libvorbis"}  # as decoders name them
PLAYABLE_CONTAINERS = ("mp4", "webm", "mov")
# ... and in an <audio> element: the containers above, and the sound-only ones (as PyAV names
# them); WAV holding plain PCM. AIFF, WMA (asf) and AMR are not among them: they get a copy.
PLAYABLE_SOUND_CONTAINERS = (*PLAYABLE_CONTAINERS, "mp3", "ogg", "flac", "wav", "aac")
PLAYABLE_PCM = {"pcm_u8", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le"}
THREAD_SAFE_BACKENDS = {"openai"}  # a local model answers one request at a time
_DESCRIBING = threading.Semaphore(1)  # one picture to find decoded at a time (up to 50 MP)


class _OneAtATime:
    """A backend that is not safe to call from two threads at once, called one at a time."""

    def __init__(self, backend: Any):
        self._backend = backend
        self._lock = threading.Lock()

    def generate(self, *args, **kwargs):
        with self._lock:
            return self._backend.generate(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._backend, name)


def playable(info) -> bool:
    """Whether browsers play the file as it is (else the page gets a copy, `Service.proxy`):
    a video in a <video> element, a sound-only file in an <audio> element."""
    containers = info.container.split(",")
    audio = [(s.codec or "").lower() for s in info.streams if s.kind == "audio"]
    if not info.has_picture:
        return any(c in PLAYABLE_SOUND_CONTAINERS for c in containers) and bool(audio) and (
            audio[0] in PLAYABLE_AUDIO or "wav" in containers and audio[0] in PLAYABLE_PCM)
    if not any(c in PLAYABLE_CONTAINERS for c in containers):
        return False
    if (info.codec or "").lower() not in PLAYABLE_VIDEO:
        return False
    return all(codec in PLAYABLE_AUDIO for codec in audio[:1])


class Service:
    """The state of one server. `backend`: the model for captions and answers (None: search
    only, and videos are indexed without captions)."""

    def __init__(self, roots: list[str | Path], config: Config | None = None, *,
                 backend: Any = None, check: bool = True):
        self.library = Library(roots)
        self.config = config or Config()
        if backend is not None and getattr(backend, "name", "") not in THREAD_SAFE_BACKENDS:
            backend = _OneAtATime(backend)
        self.tools = Tools(self.config, backend=backend)
        self.started = time.time()
        self._runs: dict[str, tuple[tuple, VideoRun]] = {}
        self._runs_lock = threading.Lock()
        self._proxy_locks: dict[str, threading.Lock] = {}
        self._proxy_lock = threading.Lock()
        self._received: dict[str, Entry] = {}  # videos sent inside requests, by id
        self._received_lock = threading.Lock()
        self.jobs = Jobs(self._index)
        self._wake = threading.Event()
        self._closed = False
        if check:
            threading.Thread(target=self._check_loop, daemon=True, name="vidqa-check").start()

    @property
    def backend(self):
        return self.tools.backend

    @property
    def model(self) -> str | None:
        return getattr(self.backend, "model", None)

    def warm(self) -> None:
        """Load the embedder and the OCR engine now, not on the first request."""
        self.tools.search_embedder()
        self.tools.ocr_engine()

    def pipeline(self, progress=no_progress, warn=None) -> Pipeline:
        return Pipeline(self.config, tools=self.tools, progress=progress, warn=warn)

    # -- the library

    def videos(self) -> list[dict]:
        entries = self.library.scan()
        self._wake.set()
        return [e.to_dict() for e in entries]

    def entry(self, ref: str) -> Entry:
        return self.library.get(ref)

    def entry_given(self, media) -> Entry:
        """The entry of the video a chat request gives (`vidqa.serve.given.Media`): served
        (by its name, a file URL or an absolute path inside the folders), or sent inside the
        request and kept in the cache (`received`)."""
        if media.how == "served":
            return self.entry(media.ref)
        if media.how in ("file_url", "path"):
            return self.library.local(media.ref)
        return self.received(media.data, media.suffix)

    def received(self, data: bytes, suffix: str) -> Entry:
        """The entry of a video (or recording) sent inside a request: written to the cache
        once, probed (415 when it is no video), then indexed like a served one; not listed."""
        from vidqa.serve.received import store_media

        file = store_media(data, suffix)  # older received files may have been removed
        key = video_id(file)
        with self._received_lock:
            gone = [k for k, e in self._received.items() if not e.file.exists()]
            for old in gone:
                del self._received[old]
            entry = self._received.get(key)
            if entry is None:
                entry = self._received[key] = Entry(key, f"received/{file.name}", file,
                                                    size_bytes=len(data))
        with self._runs_lock:
            for old in gone:
                self._runs.pop(old, None)
        return entry

    def _entry_by_id(self, key: str) -> Entry:
        with self._received_lock:
            entry = self._received.get(key)
        return entry if entry is not None else self.library.get(key)

    @staticmethod
    def _stamp(entry: Entry) -> tuple:
        st = entry.file.stat()
        return st.st_size, st.st_mtime_ns, st.st_ino

    def _check_loop(self) -> None:
        """Tell, once per file, whether each video is indexed (from the caches)."""
        while not self._closed:
            for entry in self.library.scan():
                if entry.state == "unchecked" and not self._closed:
                    self.check(entry)
            self._wake.wait(timeout=5.0)
            self._wake.clear()

    def close(self) -> None:
        """Stop the background threads (a job under way finishes first)."""
        self._closed = True
        self._wake.set()
        self.jobs.close()

    def check(self, entry: Entry) -> None:
        """Probe the file and read what is cached of it: indexed, not indexed or failed."""
        from vidqa.media.probe import probe

        busy = entry.state in ("queued", "indexing")  # a job says how it goes
        if not busy:
            entry.state = "checking"
        try:
            info = probe(str(entry.file))
            entry.duration_s = info.duration_s
            # start_offset_s: browsers put the container's start time on the player's clock
            # (an mp4 edit list that delays the video plays it from 1.075 s), where vidqa's
            # times start at 0: the page adds it when it plays the file itself. A sound-only
            # file (has_picture false) is played in an <audio> element, its codec the sound's.
            sound = next((s.codec for s in info.streams if s.kind == "audio"), None)
            entry.info = {"codec": info.codec if info.has_picture else sound,
                          "width": info.display_width, "height": info.display_height,
                          "has_picture": info.has_picture, "playable": playable(info),
                          "start_offset_s": info.start_offset_s}
            run = self.pipeline().load(str(entry.file))
        except VidqaError as exc:
            if not busy:
                entry.state, entry.error = "failed", str(exc)
            return
        if run is None:
            if entry.state == "checking":
                entry.state = "not_indexed"
            return
        self._keep(entry, run)

    def _keep(self, entry: Entry, run: VideoRun) -> None:
        with self._runs_lock:
            self._runs[entry.id] = (self._stamp(entry), run)
        entry.state, entry.error = "indexed", None
        entry.duration_s = run.ingest.stats.end_s
        entry.info["missing"] = list(run.missing)  # e.g. captions, when a model is here now

    def run_of(self, entry: Entry) -> VideoRun | None:
        """The video's run when it is indexed (from memory, else from the caches)."""
        with self._runs_lock:
            kept = self._runs.get(entry.id)
        if kept is not None:
            if kept[0] == self._stamp(entry):
                return kept[1]
            with self._runs_lock:
                self._runs.pop(entry.id, None)
            entry.state = "unchecked"
        self.check(entry)
        with self._runs_lock:
            kept = self._runs.get(entry.id)
        return kept[1] if kept else None

    def indexed(self, entry: Entry, *, complete: bool = False) -> VideoRun:
        """The video's run, indexing it first (and waiting) when it is not indexed, or
        (`complete`: to answer) when a track the model makes is missing."""
        run = self.run_of(entry)
        if run is not None and not (complete and run.missing):
            return run
        job = self.index(entry)
        job.wait()
        if job.state != "done":  # failed, or cancelled by every caller but this one
            raise VidqaError(self.shown_error(entry, job.error or
                                              f"indexing '{entry.path}' {job.state}"))
        return job.result

    @staticmethod
    def shown_error(entry: Entry, message: str) -> str:
        """An error about a video as a client may read it: the file named by its path in the
        library (a received file's as `received/NAME`), never by its place on this machine."""
        return message.replace(str(entry.file), entry.path)

    # -- indexing

    def index(self, entry: Entry) -> Job:
        """The job indexing the video (queued, or the one already under way)."""
        job = self.jobs.submit(entry.id, entry.path)
        if entry.state not in ("indexing",):
            entry.state, entry.job = "queued", job.id
        return job

    def _index(self, job: Job) -> VideoRun:
        entry = self._entry_by_id(job.video)
        with self._runs_lock:
            before = "indexed" if entry.id in self._runs else "not_indexed"
        entry.state, entry.job, entry.error = "indexing", job.id, None
        pipeline = self.pipeline(progress=job.progress, warn=job.warnings.append)
        try:
            job.check()  # cancelled while it waited in the queue
            run = pipeline.run(str(entry.file))
            pipeline.index(run)
        except Cancelled:
            entry.state = before  # every caller went away; nothing half-made is kept
            raise
        except BaseException as exc:
            entry.state = "failed"
            entry.error = self.shown_error(entry, str(exc)) if isinstance(exc, VidqaError) \
                else f"{type(exc).__name__}: {exc}"
            raise
        self._keep(entry, run)
        return run

    # -- search and answers

    def _runs_of(self, refs: list[str] | None) -> list[VideoRun]:
        """The runs of the named videos (indexed first when they are not), or of every indexed
        video when none is named."""
        if refs:
            return [self.indexed(self.entry(ref)) for ref in refs]
        for entry in self.library.scan():  # just started: read the caches before saying none
            if entry.state in ("unchecked", "checking"):
                self.check(entry)
        runs = [r for r in (self.run_of(e) for e in self.library.scan()
                            if e.state == "indexed") if r is not None]
        if not runs:
            raise Refused("no video is indexed yet; index one from the page or with "
                          "`vidqa index`", 409, "not_indexed")
        return runs

    def find(self, query: str | Picture, refs: list[str] | None = None, *, k: int = 5,
             refine: bool = True) -> list:
        """Hits for `query` in the named videos (indexed first when they are not), or in every
        indexed video when none is named. `query` a `Picture` (`picture`): where it is shown,
        each showing pinned to its first sampled frame; [] when no frame shows it."""
        from vidqa.search.pictures import Picture

        if isinstance(query, Picture):
            self._check(query)  # a picture that does not decode: refused before any work
            entries = [self.entry(ref) for ref in refs or []]
            sound = [e for e in entries if e.info.get("has_picture") is False]  # checked
            runs = self._runs_of(refs) if not sound else []
            if refs:
                sound += [e for e, r in zip(entries, runs) if not r.ingest.video.has_picture]
            if sound:
                raise Refused(f"'{sound[0].path}' is a sound-only recording: it shows no "
                              "picture; name a video", 400, "no_picture")
            runs = [r for r in runs if r.ingest.video.has_picture]  # of every indexed one
            return self.pipeline().find([r.video for r in runs], query, k=k,
                                        runs=runs) if runs else []
        if not query.strip():
            raise Refused("the query is empty; give the words to look for", 400, "empty_query")
        runs = self._runs_of(refs)
        return self.pipeline().find([r.video for r in runs], query, k=k, refine=refine,
                                    runs=runs)

    def picture(self, data: bytes, name: str = "picture") -> Picture:
        """The picture a request asks `find` for (`vidqa.serve.given.read_picture`), checked
        from its bytes before they are decoded: PNG, JPEG or WebP alone (415 otherwise; no
        other parser runs), at most 50 megapixels (413), then decoded and described once,
        one picture at a time (400 when it does not decode)."""
        from vidqa.search.pictures import Picture

        return self._check(Picture(data, name))

    @staticmethod
    def _check(picture: Picture) -> Picture:
        from vidqa.search.pictures import MAX_PICTURE_PIXELS
        from vidqa.media.images import picture_header

        head = picture_header(picture.data)
        if head is None:
            raise Refused(f"the picture '{picture.name}' is not a PNG, JPEG or WebP image; send "
                          "one of those (as data:image/png;base64,...)", 415,
                          "unsupported_image")
        form, width, height = head
        if width * height > MAX_PICTURE_PIXELS:
            raise Refused(f"the picture '{picture.name}' is {width}x{height} pixels, over "
                          f"{MAX_PICTURE_PIXELS // 1_000_000} million; scale it down (the "
                          "search reads it 640 pixels wide)", 413, "image_too_large")
        with _DESCRIBING:
            try:
                picture.described()
            except VidqaError:
                raise Refused(f"the picture '{picture.name}' does not decode as a {form} (cut "
                              "off or damaged?); send the whole image file", 400,
                              "invalid_image") from None
        return picture

    def clock(self, at: str, refs: list[str] | None = None) -> dict:
        """Where the wall clock in the named videos (every indexed one when none is named)
        shows `at`: the `find --at --json` document, each video named by its id and path."""
        from vidqa.search.clock import BadTime, NoClock, document, parse_at

        try:
            parse_at(at)  # a value that does not read is refused before any indexing
            runs = self._runs_of(refs)
            lookups = self.pipeline().clock([r.video for r in runs], at, runs=runs)
        except BadTime as exc:
            raise Refused(str(exc), 400, "invalid_at") from None
        except NoClock as exc:
            raise Refused(str(exc), 422, "no_clock") from None
        doc = document(at, lookups)
        for part in doc["videos"]:
            entry = self.library.entry_of(part["video"])
            part["video"], part["path"] = (entry.id, entry.path) if entry else (None, None)
            if entry:
                for match in part["matches"]:
                    match["url"] = f"/#v={entry.id}&t={match['time_s']:g}"
        return doc

    def need_model(self) -> None:
        """Refuse (400) when this server has no model to answer with."""
        if self.backend is None:
            raise Refused("this server has no model to answer with; start it with -m MODEL "
                          "(and -b openai --base-url URL for a model server)", 400,
                          "model_not_loaded")

    def ask(self, ref: str, question: str, *, scope: str = "chunks", top_k: int = 2):
        """(the video's entry, the answer) for `question` about one served video."""
        self.need_model()
        return self.ask_entry(self.entry(ref), question, scope=scope, top_k=top_k)

    def ask_entry(self, entry: Entry, question: str, *, scope: str = "chunks",
                  top_k: int = 2):
        """(the entry, the answer) for `question` about a served or received video, indexed
        first when it is not."""
        self.need_model()
        run = self.indexed(entry, complete=True)
        try:
            _, answer = self.pipeline().ask([run.video], question, scope=scope, top_k=top_k,
                                            runs=[run])
        except VidqaError as exc:
            if str(entry.file) not in str(exc):
                raise
            raise VidqaError(self.shown_error(entry, str(exc))) from None
        return entry, answer

    def frame_files(self, frames: list[bytes]) -> list[tuple[Path, int, int]]:
        """Frames a request gave (image bytes), decoded, scaled as vidqa's own and kept in the
        cache: (path, width, height) of each, in order (`vidqa.serve.received`)."""
        from vidqa.serve.received import store_frames

        return store_frames(frames, self.config.decode)

    def ask_frames(self, frames: list[tuple[Path, int, int]], question: str):
        """The answer to `question` from frames a client sampled itself (`frame_files`): shown
        to the model in order, each after its number, with no times (none are known), so the
        answer cites none."""
        from vidqa.keyframes.tokens import visual_tokens
        from vidqa.model.answers import Answer, generate_answer
        from vidqa.model.messages import frames_messages

        self.need_model()
        settings = self.config.model
        messages = frames_messages(question, [path for path, _, _ in frames])
        text, warning = generate_answer(self.backend, messages,
                                        max_new_tokens=settings.max_new_tokens,
                                        temperature=settings.temperature)
        return Answer(question, text, [], [], self.backend.model, warning,
                      f"frames: {len(frames)} given frames in order, no times", len(frames),
                      sum(visual_tokens(h, w) for _, w, h in frames))

    # -- files

    def accept_upload(self, partial: Path, target: Path) -> None:
        """Put an uploaded file (`partial`, written whole) at `target` when it is a file vidqa
        reads: probed first, refused with 415 otherwise (nothing stays); linked into place, so
        a file that appeared at `target` meanwhile is never replaced (409)."""
        import errno
        import os

        from vidqa.media.probe import probe

        try:
            probe(partial)
        except VidqaError as exc:
            why = str(exc).replace(str(partial), target.name)
            raise Refused(f"the upload is not a video or sound file vidqa can read: {why}", 415,
                          "unsupported_media") from None
        try:
            os.link(partial, target)
            appeared = False
        except FileExistsError:
            appeared = True
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            appeared = target.exists()  # a file system without hard links: check, rename
            if not appeared:
                os.replace(partial, target)
        if appeared:
            raise Refused(f"'{target.name}' appeared meanwhile; rename the upload", 409,
                          "exists")

    def keyframe(self, entry: Entry, name: str) -> Path:
        """A key frame's JPEG of an indexed video, by its file name."""
        run = self.run_of(entry)
        if run is None:
            raise Refused(f"'{entry.path}' is not indexed; it has no key frames yet", 404,
                          "not_indexed")
        wanted = f"keyframes/{name}"
        if not any(kf.image == wanted for kf in run.ingest.keyframes):
            raise Refused(f"no key frame '{name}' in '{entry.path}'", 404, "not_found")
        return run.ingest.workdir / wanted

    def proxy(self, entry: Entry) -> Path:
        """A copy of the file that every browser plays, made once by the bundled ffmpeg and
        kept in the cache: H.264/AAC in .mp4 for a video, AAC in .m4a for a sound-only file
        (AIFF, WMA, AMR). ffmpeg writes a store temporary (`building_file`) that is renamed
        into place when whole; a killed server's leftover is removed by the next `clean_stale`
        of that folder. An OSError is left to the app (its reason, no path)."""
        from vidqa.media.ffmpeg import input_args, local_url, run_ffmpeg
        from vidqa.media.probe import probe
        from vidqa.store import building_file, fingerprint

        with self._proxy_lock:
            lock = self._proxy_locks.setdefault(entry.id, threading.Lock())
        with lock:
            known = entry.info.get("has_picture")  # None: not checked yet
            sound = not (known if known is not None else probe(entry.file).has_picture)
            suffix = ".m4a" if sound else ".mp4"
            target = cache_dir() / "proxies" / f"{fingerprint(entry.file)}{suffix}"
            if target.exists():
                return target
            target.parent.mkdir(parents=True, exist_ok=True)
            codecs = ["-map", "0:a:0", "-vn"] if sound else [
                "-map", "0:v:0", "-map", "0:a:0?", "-c:v", "libx264", "-preset", "veryfast",
                "-crf", "26", "-pix_fmt", "yuv420p", "-vf", "scale=-2:'trunc(min(720,ih)/2)*2'"]
            with building_file(target, suffix=suffix, tag="proxy") as partial:
                run_ffmpeg([*input_args(entry.file), *codecs, "-c:a", "aac", "-b:a", "128k",
                            "-movflags", "+faststart", "-threads", "2", local_url(partial)],
                           f"cannot make a playable copy of '{entry.path}'",
                           "play the file in a desktop player (mpv, VLC)")
        return target
