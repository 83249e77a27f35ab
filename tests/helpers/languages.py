"""A recording in several languages, with questions about each sentence in English and in the
sentence's own language (issue 26: search across languages).

`SENTENCES` is the table (no audio needed: embedder tests index the texts themselves).
`build_recording(folder)` speaks them with espeak-ng (`apt-get install espeak-ng`) and joins the
clips into one 16 kHz mono WAV with ~1 s of silence between them, each sentence at a known
[start_s, end_s) (its voiced part: espeak's own leading and trailing silence is cut). The WAV is
kept under `folder` by a key of its content (the table, the voices, the speed, espeak-ng's
version), so a second call with the same folder does no work; `session_recording` is that for a
pytest session. Without espeak-ng a test is skipped (under CI it fails: `extras.missing`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path
from typing import NamedTuple

import numpy as np

RATE = 16_000
GAP_S = 1.0  # silence between two sentences
LEAD_S = 0.5  # silence before the first and after the last
SPEED = 150  # espeak-ng words per minute
VOICES = {"de": "de", "es": "es", "fr": "fr-fr", "en": "en-us"}
_SILENT = 1e-3  # |sample| below this (of full scale) counts as silence when trimming


class Sentence(NamedTuple):
    language: str
    text: str
    english_question: str
    native_question: str


class Spoken(NamedTuple):
    """One sentence of the recording: [start_s, end_s) in the WAV."""

    start_s: float
    end_s: float
    language: str
    text: str
    english_question: str
    native_question: str


# Topics recur across languages (trains late, cancelled or early in German, Spanish and French;
# passwords, cakes, closures, money), so the topic alone does not find the sentence.
SENTENCES: tuple[Sentence, ...] = (
    Sentence("de", "Der Zug nach München hat heute zwanzig Minuten Verspätung.",
             "How late is the train to Munich today?",
             "Wie viel Verspätung hat der Zug nach München?"),
    Sentence("de", "Bitte schicken Sie Ihre Rechnungen bis Freitag an Frau Weber.",
             "Who should the invoices be sent to?",
             "An wen gehen die Rechnungen?"),
    Sentence("de", "Das Passwort für das Archiv lautet silberne Laterne.",
             "What is the password for the archive?",
             "Wie heißt das Kennwort für das Archiv?"),
    Sentence("de", "Im Keller ist ein Wasserrohr geplatzt, deshalb bleibt das Labor geschlossen.",
             "Why is the lab closed?",
             "Warum ist das Labor heute zu?"),
    Sentence("de", "Unser Umsatz ist im dritten Quartal um zwölf Prozent gestiegen.",
             "How much did sales grow in the third quarter?",
             "Wie stark ist der Umsatz im dritten Quartal gewachsen?"),
    Sentence("de", "Die neue Kantine öffnet am Montag und bietet vegetarische Gerichte an.",
             "When does the new cafeteria open?",
             "Wann macht die neue Kantine auf?"),
    Sentence("de", "Der Drucker im zweiten Stock hat kein Papier mehr.",
             "Which printer is out of paper?",
             "Welcher Drucker braucht neues Papier?"),
    Sentence("de", "Morgen regnet es den ganzen Tag, nehmt also einen Schirm mit.",
             "What will the weather be like tomorrow?",
             "Wie wird das Wetter morgen?"),
    Sentence("de", "Der Zug nach Hamburg fällt heute wegen eines Streiks aus.",
             "Why is the train to Hamburg cancelled?",
             "Warum fährt heute kein Zug nach Hamburg?"),
    Sentence("de", "Das Passwort für den Gastzugang wird jeden Montag geändert.",
             "How often does the guest password change?",
             "Wann ändert sich das Gästepasswort?"),
    Sentence("de", "Die Heizung im Besprechungsraum ist seit gestern kaputt.",
             "What is broken in the meeting room?",
             "Was funktioniert im Besprechungsraum nicht?"),
    Sentence("de", "Unsere Kosten für Energie sind im letzten Jahr stark gesunken.",
             "What happened to energy costs last year?",
             "Wie haben sich die Energiekosten entwickelt?"),
    Sentence("es", "El vuelo a Lisboa sale de la puerta nueve.",
             "Which gate does the flight to Lisbon leave from?",
             "¿Desde qué puerta sale el avión a Lisboa?"),
    Sentence("es", "La reunión con los clientes se ha cambiado al jueves por la tarde.",
             "When is the meeting with the customers now?",
             "¿Qué día es ahora la reunión con los clientes?"),
    Sentence("es", "El pastel para la fiesta de cumpleaños es de limón.",
             "What flavour is the birthday cake?",
             "¿De qué sabor es la tarta de cumpleaños?"),
    Sentence("es", "Hay que cambiar el filtro del aire acondicionado cada tres meses.",
             "How often should the air conditioner filter be replaced?",
             "¿Cada cuánto se cambia el filtro del aire?"),
    Sentence("es", "Los gastos de viaje se reembolsan a final de mes.",
             "When are travel expenses paid back?",
             "¿Cuándo devuelven los gastos del viaje?"),
    Sentence("es", "Nuestro perro se escapó del jardín esta mañana.",
             "What happened to the dog this morning?",
             "¿Qué le pasó al perro esta mañana?"),
    Sentence("es", "La contraseña de la red inalámbrica está escrita en la pizarra.",
             "Where can I find the wifi password?",
             "¿Dónde está la clave del wifi?"),
    Sentence("es", "El hospital necesita más enfermeras para el turno de noche.",
             "Which shift needs more nurses?",
             "¿Qué turno necesita más personal de enfermería?"),
    Sentence("es", "El tren de Madrid llega con diez minutos de adelanto.",
             "Which train arrives early?",
             "¿Qué tren llega antes de la hora?"),
    Sentence("es", "La tarta de chocolate es para la despedida de Ana.",
             "Who is the chocolate cake for?",
             "¿Para quién es la tarta de chocolate?"),
    Sentence("es", "Las ventas en línea bajaron un cinco por ciento en marzo.",
             "How did online sales do in March?",
             "¿Cuánto cayeron las ventas por internet en marzo?"),
    Sentence("es", "El gato de la vecina duerme siempre en nuestro tejado.",
             "Where does the neighbour's cat sleep?",
             "¿Dónde duerme el gato de la vecina?"),
    Sentence("fr", "Le musée est fermé le mardi pour des travaux.",
             "On which day is the museum closed?",
             "Quel jour le musée est-il fermé ?"),
    Sentence("fr", "Il faut arroser les tomates deux fois par semaine.",
             "How often do the tomatoes need water?",
             "À quelle fréquence faut-il arroser les tomates ?"),
    Sentence("fr", "Le directeur a annoncé que les salaires augmenteront en janvier.",
             "When will salaries go up?",
             "Quand les salaires vont-ils augmenter ?"),
    Sentence("fr", "La voiture rouge est garée devant l'entrée principale.",
             "Where is the red car parked?",
             "Où se trouve la voiture rouge ?"),
    Sentence("fr", "Le train de Paris arrive avec une heure de retard à cause de la neige.",
             "Why is the train from Paris late?",
             "Pourquoi le train de Paris est-il en retard ?"),
    Sentence("fr", "Les enfants apprennent à nager à la piscine municipale.",
             "Where do the children learn to swim?",
             "Où les enfants prennent-ils des cours de natation ?"),
    Sentence("fr", "N'oubliez pas de sauvegarder vos fichiers avant la mise à jour du système.",
             "What should I do before the system update?",
             "Que faut-il faire avant la mise à jour ?"),
    Sentence("fr", "La bibliothèque prête maintenant aussi des outils de jardinage.",
             "What can you borrow from the library now?",
             "Qu'est-ce qu'on peut emprunter à la bibliothèque ?"),
    Sentence("fr", "La piscine sera fermée tout le mois d'août pour le nettoyage.",
             "When is the swimming pool closed?",
             "Quand la piscine ferme-t-elle ?"),
    Sentence("fr", "Le vol pour Montréal est annulé à cause d'une tempête.",
             "Why was the flight to Montreal cancelled?",
             "Pourquoi le vol pour Montréal n'a-t-il pas lieu ?"),
    Sentence("fr", "Les nouveaux ordinateurs portables arrivent la semaine prochaine.",
             "When do the new laptops arrive?",
             "Quand les nouveaux portables seront-ils livrés ?"),
    Sentence("fr", "Mon frère cherche un appartement près de la gare.",
             "What is my brother looking for?",
             "Que cherche mon frère ?"),
    Sentence("en", "The printer on the ground floor is jammed again.",
             "Which printer is jammed?",
             "Where is the printer that keeps jamming?"),
    Sentence("en", "Our flight to Berlin was moved to gate twelve.",
             "Which gate does the Berlin flight use now?",
             "Where does the flight to Berlin depart from?"),
    Sentence("en", "The quarterly budget grows by twelve percent next year.",
             "How much will the budget grow?",
             "By what percentage does the budget increase?"),
    Sentence("en", "Please water the plants in the office every Friday.",
             "When should the office plants be watered?",
             "What day do the plants get water?"),
    Sentence("en", "The new parking garage opens next month.",
             "When does the parking garage open?",
             "When can we start using the new car park?"),
    Sentence("en", "The library closes early on Saturdays.",
             "When does the library close early?",
             "What day does the library shut early?"),
    Sentence("en", "Lunch today is pasta with mushrooms.",
             "What is for lunch today?",
             "What are we eating at noon?"),
    Sentence("en", "The train to Boston is cancelled because of the storm.",
             "Why is the Boston train cancelled?",
             "What happened to the train to Boston?"),
)


def espeak() -> str | None:
    """The espeak-ng executable, or None when it is not installed."""
    return shutil.which("espeak-ng")


def need_espeak() -> str:
    """espeak-ng's path; else a skip (under CI a failure) saying how to install it."""
    __tracebackhide__ = True
    from helpers.extras import missing

    found = espeak()
    if found is None:
        missing("espeak-ng not found; install it with: apt-get install espeak-ng")
    return found


def _key(tool: str) -> str:
    version = subprocess.run([tool, "--version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    payload = json.dumps([SENTENCES, VOICES, SPEED, RATE, GAP_S, LEAD_S, _SILENT, version])
    return hashlib.blake2b(payload.encode(), digest_size=8).hexdigest()


def _speak(tool: str, sentence: Sentence, scratch: Path, ffmpeg: str) -> np.ndarray:
    """The sentence spoken, as 16 kHz mono float32 with its leading and trailing silence cut."""
    raw = scratch / "clip.wav"
    subprocess.run([tool, "-v", VOICES[sentence.language], "-s", str(SPEED), "-w", str(raw),
                    sentence.text], check=True, capture_output=True)
    pcm = subprocess.run([ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-i", str(raw),
                          "-ac", "1", "-ar", str(RATE), "-f", "s16le", "-"],
                         check=True, capture_output=True).stdout
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    voiced = np.flatnonzero(np.abs(samples) > _SILENT)
    if not len(voiced):
        raise RuntimeError(f"espeak-ng said nothing for {sentence.text!r}")
    return samples[voiced[0]:voiced[-1] + 1]


def build_recording(folder: str | os.PathLike) -> tuple[Path, list[Spoken]]:
    """(the WAV, its sentences in order with their times) under `folder`, made once per content:
    16 kHz mono 16-bit, LEAD_S of silence, the sentences GAP_S apart, LEAD_S after the last."""
    tool = need_espeak()
    folder = Path(folder)
    final = folder / f"languages-{_key(tool)}"
    wav, truth = final / "recording.wav", final / "sentences.json"
    if not truth.is_file():
        import imageio_ffmpeg

        ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder, prefix=".tmp-languages-") as tmp:
            scratch = Path(tmp)
            lead = np.zeros(round(LEAD_S * RATE), dtype=np.float32)
            gap = np.zeros(round(GAP_S * RATE), dtype=np.float32)
            parts, spoken, at = [lead], [], len(lead)
            for i, sentence in enumerate(SENTENCES):
                if i:
                    parts.append(gap)
                    at += len(gap)
                clip = _speak(tool, sentence, scratch, ffmpeg)
                spoken.append(Spoken(round(at / RATE, 4), round((at + len(clip)) / RATE, 4),
                                     *sentence))
                parts.append(clip)
                at += len(clip)
            parts.append(lead)
            pcm = np.clip(np.concatenate(parts) * 32768.0, -32768, 32767).astype("<i2")
            out = scratch / "out"
            out.mkdir()
            with wave.open(str(out / wav.name), "wb") as handle:
                handle.setnchannels(1)
                handle.setsampwidth(2)
                handle.setframerate(RATE)
                handle.writeframes(pcm.tobytes())
            (out / truth.name).write_text(json.dumps([s._asdict() for s in spoken],
                                                     ensure_ascii=False, indent=1),
                                          encoding="utf-8")
            try:
                os.rename(out, final)
            except OSError:  # another process made it meanwhile
                if not truth.is_file():
                    raise
    rows = json.loads(truth.read_text(encoding="utf-8"))
    return wav, [Spoken(**row) for row in rows]


def session_recording(tmp_path_factory) -> tuple[Path, list[Spoken]]:
    """`build_recording` under the pytest session's base temporary folder (made once)."""
    return build_recording(tmp_path_factory.getbasetemp() / "languages")
