"""Regenerate examples/eval/recordings/*.ogg and examples/eval/recordings.json: short spoken recordings for the
evaluation set, each three or four sentences said by espeak-ng.

The voice is the one tests/fixtures/speech/make.sh chose by trying voices on whisper tiny.en (the Klatt variant
of en-us, 120 words a minute, pitch 25, a 60 ms gap between words). Each sentence is spoken into a WAV file of
its own, its silence at either end trimmed; the sentences are joined with a short silence between them, so the
time each one is said is known: recordings.json keeps, for each file, every sentence with its start and end in
seconds, which the moment queries of queries.jsonl point at. The files are mono Ogg/Opus, 16 kHz, 24 kb/s.

Run from anywhere: `.venv/bin/python examples/eval/make_recordings.py` (needs espeak-ng; ffmpeg comes from the
repository's .venv, through imageio-ffmpeg).
"""

from __future__ import annotations

import array
import json
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = HERE / "recordings"
MANIFEST = HERE / "recordings.json"

VOICE = ["-v", "en-us+klatt", "-s", "120", "-p", "25", "-g", "6"]
LEAD_S = 0.4  # silence before the first sentence
GAP_S = 0.8  # silence between sentences
TAIL_S = 0.5  # silence after the last
QUIET = 300  # a sample below this (of 32767) counts as silence when the ends of a sentence are trimmed

RECORDINGS: dict[str, list[str]] = {
    "rec-01-harbour-radio": [
        "Hello, this is harbour radio for the port of Redcliff.",
        "The cargo ship Blue Falcon will dock at pier nine at half past ten.",
        "Fishing boats must stay clear of the eastern channel until noon.",
        "The next update comes at eleven o'clock.",
    ],
    "rec-02-dental-voicemail": [
        "Hello, this is Maria at the dentist's office in Oakfield.",
        "Your cleaning appointment has moved to Thursday at three in the afternoon.",
        "Please bring your insurance card and arrive ten minutes early.",
        "Call us back if the new time does not suit you.",
    ],
    "rec-03-lentil-soup": [
        "Today we are making a simple lentil soup.",
        "Fry one onion and two carrots in olive oil until they are soft.",
        "Add a cup of red lentils and four cups of water, then let it simmer for twenty minutes.",
        "Finish the soup with lemon juice and a pinch of cumin.",
    ],
    "rec-04-warehouse-order": [
        "This is Daniel at the warehouse, calling about order seven four two.",
        "The blue shelving units arrived with two broken brackets.",
        "We have set them aside and asked the supplier for new parts.",
        "The rest of the order will ship on Monday.",
    ],
    "rec-05-farm-weather": [
        "Here is the farm weather for the valley.",
        "Frost and ice are likely after midnight, so cover young plants and bring the animals inside.",
        "Tomorrow will be dry and sunny with light winds.",
        "Rain returns on Saturday evening.",
    ],
    "rec-06-museum-guide": [
        "Welcome to room four of the city museum.",
        "The large painting in front of you shows a storm at sea, painted by Helena Brooks in eighteen ninety.",
        "Look at the small lighthouse on the left, which she added many years later.",
        "Please do not touch the frame.",
    ],
    "rec-07-science-fair": [
        "Hello students, the science fair starts at nine tomorrow in the main hall.",
        "Each team gets one table and one power socket.",
        "The judges will visit between ten and twelve.",
        "Remember to clean your table before you leave.",
    ],
    "rec-08-train-delay": [
        "We are sorry to announce that the eight fifteen train to Ashford is delayed by forty minutes.",
        "This is because of a fallen tree on the line near Milton.",
        "Passengers may take the replacement bus outside the station.",
        "We apologise for the trouble.",
    ],
    "rec-09-sleep-podcast": [
        "In this episode we talk about sleep.",
        "Most adults need between seven and nine hours each night.",
        "Looking at bright screens late in the evening makes it harder to fall asleep.",
        "A cool, dark and quiet bedroom helps the most.",
    ],
    "rec-10-crew-briefing": [
        "This is the crew briefing for the Silver Swan.",
        "Captain Marwick says we leave port at dawn on Friday.",
        "Every life jacket must be checked before we depart.",
        "The galley will serve breakfast at five thirty.",
    ],
    "rec-11-library-notice": [
        "The public library will close early on Wednesday for painting work.",
        "Any book due back that day can be returned on Thursday without a fine.",
        "The children's reading hour moves to Friday morning.",
        "Thank you for your patience.",
    ],
    "rec-12-warm-up": [
        "Let us begin with a gentle warm up.",
        "Stand tall, lift your arms slowly and breathe in through your nose.",
        "Now bend your knees and reach toward your toes.",
        "Hold this stretch for twenty seconds.",
    ],
    "rec-13-lost-cat": [
        "Our little grey cat called Pepper has been missing since Sunday night.",
        "She has a white patch on her chest and wears a red collar.",
        "She was last seen near the old bakery on Mill Street.",
        "If you find her, please call the number on the poster.",
    ],
    "rec-14-help-desk": [
        "Hello, this is the help desk about ticket number five five one.",
        "Your laptop screen has been replaced and a new battery is installed.",
        "You can collect it from room twelve after two o'clock.",
        "Please change your password when you log in.",
    ],
    "rec-15-bird-walk": [
        "Listen carefully and you can hear a blackbird singing in the tall oak.",
        "It repeats each phrase two or three times.",
        "Further down the path we may see a duck with her ducklings on the pond.",
        "Please keep your voices low so the birds stay near.",
    ],
    "rec-16-hotel-welcome": [
        "Welcome to the Grand Maple Hotel.",
        "Breakfast is served from seven until ten in the garden room.",
        "The pool on the roof is open until nine in the evening.",
        "Please leave your key at the front desk when you go out.",
    ],
    "rec-17-stone-bridge": [
        "The old stone bridge was built in the year fifteen twenty.",
        "For almost three hundred years it was the only way across the river.",
        "Farmers paid a small toll to bring their sheep across.",
        "Today it carries only people on foot.",
    ],
    "rec-18-tomatoes": [
        "Tomato plants need at least six hours of sun each day.",
        "Water them at the base in the morning, not on the leaves.",
        "Remove the small side shoots that grow between the stem and the branches.",
        "Pick the fruit when it is fully red and a little soft.",
    ],
    "rec-19-boarding-call": [
        "Passengers for flight two nine zero to Madrid, please go to gate fourteen.",
        "Boarding will begin in twenty minutes.",
        "Please have your passport and boarding pass ready.",
        "Large bags must be checked at the desk.",
    ],
    "rec-20-garage-voicemail": [
        "Hello, the garage here, calling about your van.",
        "The brakes were worn, so we fitted new pads and discs.",
        "We also found a small oil leak, which we fixed at no extra cost.",
        "The van is ready to pick up before six.",
    ],
    "rec-21-night-sky": [
        "Tonight is a good night to look at the sky.",
        "Jupiter rises in the east soon after sunset and is brighter than any star.",
        "With simple binoculars you can also see its four largest moons.",
        "The moon itself will not rise until after midnight.",
    ],
    "rec-22-farmers-market": [
        "The farmers market moves to the square beside the church this weekend.",
        "More than forty stalls will sell bread, cheese, honey and fresh fish.",
        "There will be live music from noon until three.",
        "Visitors can leave their cars behind the school.",
    ],
    "rec-23-burn-first-aid": [
        "If someone burns their hand, cool it under running water for twenty minutes.",
        "Do not put ice or butter on the burn.",
        "Cover it loosely with clean plastic wrap.",
        "Get medical help if the burn is larger than the palm of the hand.",
    ],
    "rec-24-power-cut": [
        "This is a message from the electric company.",
        "Power will be off on Elm Road on Tuesday from eight until noon.",
        "Our crews are replacing an old transformer.",
        "Please switch off sensitive machines before the work begins.",
    ],
}


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def spoken(sentence: str, work: Path) -> tuple[array.array[int], int]:
    """The sentence said by espeak-ng: 16-bit mono samples, silence at either end trimmed, and the sample rate."""
    wav = work / "sentence.wav"
    subprocess.run(["espeak-ng", *VOICE, "-w", str(wav), sentence], check=True)
    with wave.open(str(wav), "rb") as reader:
        assert reader.getnchannels() == 1 and reader.getsampwidth() == 2, "espeak-ng writes 16-bit mono"
        rate = reader.getframerate()
        samples = array.array("h", reader.readframes(reader.getnframes()))
    if sys.byteorder == "big":
        samples.byteswap()
    loud = [index for index, value in enumerate(samples) if abs(value) >= QUIET]
    return samples[loud[0] : loud[-1] + 1], rate


def record(name: str, sentences: list[str], work: Path) -> list[dict[str, object]]:
    """Write recordings/NAME.ogg; each sentence with the seconds it starts and ends at."""
    joined: array.array[int] = array.array("h")
    timed: list[dict[str, object]] = []
    rate = 0
    for number, sentence in enumerate(sentences):
        samples, rate = spoken(sentence, work)
        joined.extend([0] * int((LEAD_S if number == 0 else GAP_S) * rate))
        start = len(joined) / rate
        joined.extend(samples)
        timed.append({"text": sentence, "start_s": round(start, 2), "end_s": round(len(joined) / rate, 2)})
    joined.extend([0] * int(TAIL_S * rate))
    if sys.byteorder == "big":
        joined.byteswap()
    wav = work / f"{name}.wav"
    with wave.open(str(wav), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(joined.tobytes())
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav)]
    command += ["-ac", "1", "-ar", "16000", "-c:a", "libopus", "-b:a", "24k", "-map_metadata", "-1"]
    command += ["-fflags", "+bitexact", str(TARGET / f"{name}.ogg")]
    subprocess.run(command, check=True)
    return timed


def main() -> None:
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is needed: apt-get install espeak-ng")
    TARGET.mkdir(exist_ok=True)
    for old in TARGET.glob("*.ogg"):
        old.unlink()
    manifest: dict[str, list[dict[str, object]]] = {}
    with tempfile.TemporaryDirectory() as work:
        for name, sentences in RECORDINGS.items():
            manifest[f"recordings/{name}.ogg"] = record(name, sentences, Path(work))
            last = manifest[f"recordings/{name}.ogg"][-1]
            print(f"{name}.ogg: {len(sentences)} sentences, {last['end_s']} s")
    MANIFEST.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    print(f"{len(manifest)} recordings in {TARGET}; their sentences' times in {MANIFEST}")


if __name__ == "__main__":
    main()
