"""Importers that cannot be fooled: cut files, values beyond the sensor, zones, languages, odd files."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from glucose_model.importers import (
    CgmImportError,
    EmptyFileError,
    EncodingError,
    RenamedColumnsError,
    TruncatedFileError,
    UnknownFormatError,
    detect_format,
    import_bytes,
    import_file,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cgm"
DEXCOM = (FIXTURES / "dexcom_clarity_mg_dl.csv").read_text()
DEXCOM_HEADER = DEXCOM.splitlines()[0]


def _clarity(values: list[str]) -> str:
    rows = [
        f"{i + 1},2024-05-01T{8 + i // 12:02d}:{(i % 12) * 5:02d}:00,EGV,,,,iOS G6,{v},,,,,4237574,8AM1EY"
        for i, v in enumerate(values)
    ]
    return "\n".join([DEXCOM_HEADER, *rows]) + "\n"


def test_dexcom_cut_inside_a_value_names_the_line() -> None:
    text = _clarity(["120", "150", "204"])
    cut = text[: text.index(",204,") + 3]  # `...,iOS G6,20`: the row was `...,204,...`
    with pytest.raises(TruncatedFileError, match="line 4") as err:
        import_bytes(cut.encode(), "clarity.csv", tz="UTC")
    assert err.value.line == 4 and "--keep-partial" in str(err.value)


def test_dexcom_cut_mid_row_keeps_the_rows_before_it_only_when_asked() -> None:
    text = _clarity([str(100 + i) for i in range(20)])
    cut = text[: text.index("2024-05-01T09:05:00") + 10]  # inside row 15's time
    with pytest.raises(TruncatedFileError, match="line 15"):
        import_bytes(cut.encode(), "clarity.csv", tz="UTC")
    rec = import_bytes(cut.encode(), "clarity.csv", tz="UTC", keep_partial=True)
    assert list(rec.glucose.glucose_mg_dl) == [100 + i for i in range(13)]
    assert any("cut at line 15" in n and "13 readings" in n for n in rec.report.notes)


def test_a_whole_last_row_without_a_line_break_is_kept() -> None:
    # The cut can only have taken the unread Transmitter ID: every value read is whole.
    text = _clarity(["120", "150"]).rstrip("\n")[:-2]
    assert list(import_bytes(text.encode(), "clarity.csv", tz="UTC").glucose.glucose_mg_dl) == [120, 150]


def test_values_beyond_the_sensors_range_are_not_readings() -> None:
    rec = import_bytes(_clarity(["20", "120", "410", "Low", "High"]).encode(), "clarity.csv", tz="UTC")
    assert list(rec.glucose.glucose_mg_dl) == [120, 39, 401]  # 20 and 410: no Dexcom reports them
    assert rec.report.out_of_range == 2 and rec.report.readings_kept == 3
    libre = (
        (FIXTURES / "libreview_mg_dl.csv")
        .read_text()
        .replace(",0,104,", ",0,510,")
        .replace(",0,128,", ",0,450,")
    )
    rec = import_bytes(libre.encode(), "libre.csv", tz="UTC")
    values = set(rec.glucose.glucose_mg_dl.tolist())
    assert 510 not in values and 450 in values and rec.report.out_of_range >= 1


def test_mmol_values_at_the_range_ends_stay_readings() -> None:
    text = (FIXTURES / "dexcom_clarity_mmol_l.csv").read_text()
    rec = import_bytes(text.encode(), "clarity.csv", tz="UTC")
    assert rec.report.readings_kept > 0
    header = text.splitlines()[0]
    rows = [
        f"{i + 1},2024-05-01T08:{i * 5:02d}:00,EGV,,,,G6,{v},,,,,,"
        for i, v in enumerate(["2.2", "22.2", "1.1"])
    ]
    rec = import_bytes(("\n".join([header, *rows]) + "\n").encode(), "clarity.csv", tz="UTC")
    assert rec.report.readings_kept == 2 and rec.report.out_of_range == 1


def test_generic_csv_with_device_local_times_takes_tz() -> None:
    data = b"time,glucose_mg_dl\n2014-02-03T03:42:12,100\n2014-02-03T03:47:12,104\n"
    with pytest.raises(CgmImportError, match="--tz"):
        import_bytes(data, "local.csv")
    rec = import_bytes(data, "local.csv", tz="America/Los_Angeles")
    assert rec.glucose.times_utc_s[0] == 1391427732  # 03:42:12 PST = 11:42:12 UTC
    assert list(rec.glucose.utc_offset_min) == [-480, -480]
    offset = import_bytes(
        b"time,glucose_mg_dl\n2014-02-03T03:42:12Z,100\n", "z.csv", tz="America/Los_Angeles"
    )
    assert offset.glucose.times_utc_s[0] == 1391398932  # an offset in the file wins


LIBRE_HEADERS = {
    "de": "Gerät,Seriennummer,Gerätezeitstempel,Aufzeichnungstyp,Glukosewert-Verlauf mg/dL,Glukose-Scan mg/dL,"
    "Nicht numerisches schnellwirkendes Insulin,Schnellwirkendes Insulin (Einheiten),Nicht numerische "
    "Nahrungsdaten,Kohlenhydrate (Gramm),Kohlenhydrate (Portionen),Nicht numerisches Depotinsulin,"
    "Depotinsulin (Einheiten),Notizen,Glukose-Teststreifen mg/dL,Keton mmol/L,Mahlzeiteninsulin (Einheiten),"
    "Korrekturinsulin (Einheiten),Insulin-Änderung durch Anwender (Einheiten)",
    "es": "Dispositivo,Número de serie,Sello de tiempo del dispositivo,Tipo de registro,Historial de glucosa mg/dL,"
    "Escaneo de glucosa mg/dL,Insulina de acción rápida no numérica,Insulina de acción rápida (unidades),"
    "Alimentos no numéricos,Carbohidratos (gramos),Carbohidratos (porciones),Insulina de acción lenta no "
    "numérica,Insulina de acción lenta (unidades),Notas,Tira reactiva para glucosa mg/dL,Cetona mmol/L,"
    "Insulina para comidas (unidades),Insulina de corrección (unidades),Cambio de insulina del usuario (unidades)",
    "fr": "Appareil,Numéro de série,Horodatage de l'appareil,Type d'enregistrement,Historique du glucose mg/dL,"
    "Scan de la glycémie mg/dL,Insuline à action rapide non numérique,Insuline à action rapide (unités),"
    "Aliments non numériques,Glucides (grammes),Glucides (portions),Insuline à action longue non numérique,"
    "Insuline à action longue (unités),Remarques,Glycémie par bandelette mg/dL,Cétone mmol/L,"
    "Insuline repas (unités),Insuline de correction (unités),Modification insuline utilisateur (unités)",
    "it": "Dispositivo,Numero di serie,Timestamp dispositivo,Tipo di registrazione,Storico glicemia mg/dL,"
    "Scansione glicemia mg/dL,Insulina ad azione rapida non numerica,Insulina ad azione rapida (unità),"
    "Alimenti non numerici,Carboidrati (grammi),Carboidrati (porzioni),Insulina ad azione lenta non numerica,"
    "Insulina ad azione lenta (unità),Note,Glicemia da striscia mg/dL,Chetoni mmol/L,Insulina pasto (unità),"
    "Insulina correzione (unità),Modifica insulina utente (unità)",
    # A language not listed: read by LibreView's column order.
    "nl": "Apparaat,Serienummer,Tijdstempel apparaat,Type registratie,Historische glucose mg/dL,"
    "Scan glucose mg/dL,a,Snelwerkende insuline (eenheden),b,Koolhydraten (gram),c,d,"
    "Langwerkende insuline (eenheden),Notities,Strip glucose mg/dL,e,f,g,h",
}


@pytest.mark.parametrize("language", sorted(LIBRE_HEADERS))
def test_libreview_in_each_export_language(language: str) -> None:
    rows = [
        "FreeStyle Libre 2,0A1B,01-05-2024 07:45,0,101,,,,,,,,,,,,,,",
        "FreeStyle Libre 2,0A1B,01-05-2024 08:00,0,LO,,,,,,,,,,,,,,",
        "FreeStyle Libre 2,0A1B,01-05-2024 08:03,1,,107,,,,,,,,,,,,,",
        "FreeStyle Libre 2,0A1B,01-05-2024 08:04,5,,,,,,50,,,,,,,,,",
        "FreeStyle Libre 2,0A1B,01-05-2024 08:04,4,,,,5,,,,,,,,,,,",
    ]
    text = (
        "\n".join(["Glukose-Werte,Erstellt am,02-05-2024 09:12 UTC", LIBRE_HEADERS[language], *rows]) + "\n"
    )
    assert detect_format(text.encode()) == "libreview"
    rec = import_bytes(text.encode(), f"libre_{language}.csv", tz="Europe/Berlin")
    assert list(rec.glucose.glucose_mg_dl) == [101, 39, 107]
    assert [m.carbs_g for m in rec.meals] == [50] and [d.units for d in rec.insulin] == [5]


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (b"", EmptyFileError, "empty"),
        (b"  \n\n", EmptyFileError, "empty"),
        ("time,glucose_mg_dl\n".encode("utf-16"), EncodingError, "UTF-16"),
        (b"%PDF-1.7 ...", EncodingError, "PDF"),
        (b"PK\x03\x04....xl/workbook.xml", EncodingError, "Excel"),
        (b"timestamp,glucose\n2024-05-01T08:00:00Z,100\n", RenamedColumnsError, "rename them"),
        (b"Datum,Glukose (mg/dL)\n01.05.2024 08:00,100\n", RenamedColumnsError, "'Datum'"),
        (b'{"status": "ok"}', UnknownFormatError, "array"),
        (b"hello world\n", UnknownFormatError, "not a known CGM export"),
        (b"time,glucose_mg_dl\n", EmptyFileError, "without any rows"),
        (b"time,glucose_mg_dl\n2024-05-01T08:00:00Z,1\xff0\n", EncodingError, "line 2"),
    ],
)
def test_each_failure_kind_has_its_own_message(data: bytes, error: type[CgmImportError], words: str) -> None:
    with pytest.raises(error, match=words):
        import_bytes(data, "upload")


def _health_zip(tmp_path: Path) -> Path:
    xml = (FIXTURES / "apple_health_export.xml").read_bytes()
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("apple_health_export/export.xml", xml)
    return path


def test_apple_health_zip_is_detected_from_path_and_bytes(tmp_path: Path) -> None:
    path = _health_zip(tmp_path)
    assert detect_format(path) == "apple_health"
    assert detect_format(path.read_bytes()) == "apple_health"
    from_bytes = import_bytes(path.read_bytes(), "export.zip")
    from_file = import_file(path)
    assert len(from_bytes.glucose) == len(from_file.glucose) > 0
    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(UnknownFormatError, match="zip without"):
        import_bytes(other.getvalue(), "other.zip")


def test_nightscout_and_apple_health_cuts_are_named_or_kept() -> None:
    entries = (FIXTURES / "nightscout_entries.json").read_text()
    cut = entries[: entries.index('"sgv": 39') + 5]
    with pytest.raises(TruncatedFileError):
        import_bytes(cut.encode(), "entries.json")
    assert len(import_bytes(cut.encode(), "entries.json", keep_partial=True).glucose) == 2
    xml = (FIXTURES / "apple_health_export.xml").read_text()
    cut_xml = xml[: len(xml) - 30]
    with pytest.raises(TruncatedFileError):
        import_bytes(cut_xml.encode(), "export.xml")
    rec = import_bytes(cut_xml.encode(), "export.xml", keep_partial=True)
    assert any("cut at line" in n for n in rec.report.notes)


def test_an_edited_entry_is_not_called_a_cut() -> None:
    entries = (FIXTURES / "nightscout_entries.json").read_text().replace('"sgv": 131', '"sgv": 13x1', 1)
    with pytest.raises(CgmImportError, match="edited") as err:
        import_bytes(entries.encode(), "entries.json", keep_partial=True)
    assert not isinstance(err.value, TruncatedFileError)


def test_readings_survive_a_round_trip_through_the_partial_note() -> None:
    values = np.arange(100, 140, 2)
    text = _clarity([str(v) for v in values])
    rec = import_bytes(text.encode(), "clarity.csv", tz="UTC", keep_partial=True)
    assert list(rec.glucose.glucose_mg_dl) == list(values) and not any("cut" in n for n in rec.report.notes)
