"""Indonesian translations of the console's strings, and the step that fills them into the .ts file.

Refresh after changing UI strings (from the repo root):
    .venv/bin/pyside6-lupdate ui/*.py -ts resources/i18n/spg_console_id.ts
    .venv/bin/python resources/i18n/id_catalogue.py
    .venv/bin/pyside6-lrelease resources/i18n/spg_console_id.ts -qm resources/i18n/spg_console_id.qm
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ID = {
    "&File": "&Berkas", "&Gallery": "&Galeri", "&Help": "&Bantuan", "&Settings": "&Pengaturan",
    "(Esc: back to all cameras)": "(Esc: kembali ke semua kamera)", "(saved, hidden)": "(tersimpan, disembunyikan)",
    "A name cannot be empty.": "Nama tidak boleh kosong.", "ABSENT": "TIDAK HADIR", "ALERT": "PERINGATAN",
    "About": "Tentang", "About SPG Presence Console": "Tentang SPG Presence Console",
    "Absent after (seconds not seen)": "Tidak hadir setelah (detik tidak terlihat)", "Activate": "Aktifkan",
    "Active": "Aktif", "Active: {engine} · {pack} · {provider}": "Aktif: {engine} · {pack} · {provider}",
    "Add at least one photo.": "Tambahkan minimal satu foto.", "Add from photos…": "Tambah dari foto…",
    "Add photos…": "Tambah foto…", "Add…": "Tambah…", "Also notify when an SPG comes back": "Beri tahu juga saat SPG kembali",
    "Bot token": "Token bot", "CSV (.csv)": "CSV (.csv)", "Camera": "Kamera", "Camera {cam} added": "Kamera {cam} ditambahkan",
    "Camera {cam} failed": "Kamera {cam} gagal", "Camera {cam} is live": "Kamera {cam} aktif",
    "Camera {cam} is reconnecting": "Kamera {cam} menyambung ulang", "Camera {cam} removed": "Kamera {cam} dihapus",
    "Camera: {name}": "Kamera: {name}", "Cameras": "Kamera",
    "Cannot open camera {src}. Check it is connected and not used by another program.": "Kamera {src} tidak bisa dibuka. Pastikan kamera tersambung dan tidak dipakai program lain.",
    "Cannot read the gallery: {err}": "Galeri tidak bisa dibaca: {err}", "Capture": "Ambil gambar",
    "Capture at least one shot first.": "Ambil minimal satu gambar dulu.",
    "Captured shots (3 to 5 with slightly different angles work best):": "Gambar yang diambil (3 sampai 5 dari sudut sedikit berbeda paling baik):",
    "Charts": "Grafik", "Chat id": "ID chat", "Choose a camera and press Start preview.": "Pilih kamera lalu tekan Mulai pratinjau.",
    "Choose photos of the SPG": "Pilih foto SPG", "Choose…": "Pilih…", "Connected: {info}": "Tersambung: {info}",
    "Connecting…": "Menyambung…", "Connection failed: {why}": "Sambungan gagal: {why}",
    "Could not apply a change: {err}": "Perubahan tidak bisa diterapkan: {err}",
    "Could not change the gallery: {err}": "Galeri tidak bisa diubah: {err}", "Data folder": "Folder data",
    "Deactivate": "Nonaktifkan", "Delete": "Hapus", "Delete SPG": "Hapus SPG",
    "Delete {name} and all their face photos from the gallery? This cannot be undone.": "Hapus {name} dan semua foto wajahnya dari galeri? Ini tidak bisa dibatalkan.",
    "Delete…": "Hapus…",
    "Demo outlet: the cameras play recorded footage of demo SPGs. To use your real cameras, open Settings → Cameras, add them (Test connection shows a picture) and enroll your SPGs in the Gallery tab.": "Outlet demo: kamera memutar rekaman SPG demo. Untuk memakai kamera Anda sendiri, buka Pengaturan → Kamera, tambahkan kamera (Uji sambungan menampilkan gambar) lalu daftarkan SPG Anda di tab Galeri.",
    "Done. Save to use it; re-index the gallery afterwards if the model changed.": "Selesai. Simpan untuk memakainya; indeks ulang galeri jika modelnya berubah.",
    "Download a pack": "Unduh paket", "Downloading {name}…": "Mengunduh {name}…", "Edit…": "Ubah…", "Enabled": "Aktif",
    "Engine": "Mesin", "Enroll an SPG from a camera": "Daftarkan SPG dari kamera", "Enroll an SPG from photos": "Daftarkan SPG dari foto",
    "Enroll as SPG…": "Daftarkan sebagai SPG…", "Enroll from camera…": "Daftar dari kamera…", "Enroll from photos…": "Daftar dari foto…",
    "Enrolling…": "Mendaftarkan…", "Enrolling… (the face engine may take a few seconds to start)": "Mendaftarkan… (mesin wajah mungkin perlu beberapa detik untuk mulai)",
    "Event log": "Log kejadian", "Excel (.xlsx)": "Excel (.xlsx)", "Execution provider": "Penyedia eksekusi", "Export": "Ekspor",
    "Export attendance report": "Ekspor laporan kehadiran", "Export attendance report…": "Ekspor laporan kehadiran…",
    "Exporting…": "Mengekspor…", "Face too small: come closer to the camera.": "Wajah terlalu kecil: mendekatlah ke kamera.",
    "Faces that matched nobody (kept {days} days). Select one or more of the same person to enroll them.": "Wajah yang tidak cocok dengan siapa pun (disimpan {days} hari). Pilih satu atau lebih dari orang yang sama untuk mendaftarkannya.",
    "Failed: {why}": "Gagal: {why}", "File…": "Berkas…", "Filter by name, state or camera…": "Saring menurut nama, status atau kamera…",
    "Folder with the model pack (.onnx files)": "Folder paket model (berkas .onnx)", "Format": "Format",
    "Frames per second per camera": "Frame per detik per kamera", "Fri": "Jum", "From": "Dari", "Full name of the SPG": "Nama lengkap SPG",
    "Gallery": "Galeri", "Good: press Capture.": "Bagus: tekan Ambil gambar.",
    "Grace period (seconds not seen before 'grace')": "Masa tenggang (detik tidak terlihat sebelum 'tenggang')", "Id": "ID",
    "Import a pack…": "Impor paket…", "Importing…": "Mengimpor…", "Language (after restart)": "Bahasa (setelah mulai ulang)",
    "Last camera": "Kamera terakhir", "Latency, capture to result (ms)": "Latensi, dari tangkapan ke hasil (ms)",
    "Local camera {n}": "Kamera lokal {n}", "Model licence": "Lisensi model", "Model pack": "Paket model",
    "Model pack folder": "Folder paket model", "Mon": "Sen",
    "More than one face: only the SPG should be in front of the camera.": "Lebih dari satu wajah: hanya SPG yang boleh di depan kamera.",
    "Name": "Nama", "New name:": "Nama baru:",
    "No camera configured yet: open Settings → Cameras to add one.": "Belum ada kamera: buka Pengaturan → Kamera untuk menambahkan.",
    "No cameras yet. Add one in Settings → Cameras.": "Belum ada kamera. Tambahkan di Pengaturan → Kamera.",
    "No face seen. Stand in front of the camera.": "Tidak ada wajah. Berdirilah di depan kamera.",
    "No face to capture yet.": "Belum ada wajah untuk diambil.",
    "No face was found in the photo. Use a photo where the face is clear and facing the camera.": "Tidak ada wajah di foto. Pakai foto dengan wajah yang jelas dan menghadap kamera.",
    "No test yet.": "Belum diuji.", "Not saved. Please fix:": "Tidak disimpan. Mohon perbaiki:",
    "Not saved: cannot write the settings file ({err}).": "Tidak disimpan: berkas pengaturan tidak bisa ditulis ({err}).",
    "Not sent: {why}": "Tidak terkirim: {why}", "Open folder": "Buka folder", "Outlet && data": "Outlet && data",
    "Outlet name": "Nama outlet", "PRESENT": "HADIR", "Photo": "Foto",
    "Photos (one face each, several photos give better recognition):": "Foto (satu wajah per foto, beberapa foto membuat pengenalan lebih baik):",
    "Picture blurred: hold still (and check the light).": "Gambar buram: jangan bergerak (dan periksa cahaya).",
    "Pipeline problem: {msg}": "Masalah pipeline: {msg}", "Pipeline started": "Pipeline dimulai", "Presence": "Kehadiran",
    "Presence && shifts": "Kehadiran && shift", "Presence today": "Kehadiran hari ini", "Present today": "Hadir hari ini",
    "Processed frames per second": "Frame diproses per detik", "Quit": "Keluar", "Re-index": "Indeks ulang",
    "Re-index finished.": "Indeks ulang selesai.", "Re-indexing the gallery with the current face model…": "Mengindeks ulang galeri dengan model wajah saat ini…",
    "Recognition": "Pengenalan", "Recognition threshold (-1 to 1)": "Ambang pengenalan (-1 sampai 1)",
    "Recognition threshold must be a number between -1 and 1, or empty (got {v!r}).": "Ambang pengenalan harus angka antara -1 dan 1, atau kosong (diisi {v!r}).",
    "Remove": "Hapus", "Remove selected": "Hapus yang dipilih", "Rename SPG": "Ganti nama SPG", "Renamed to {name}.": "Nama diganti menjadi {name}.",
    "Rename…": "Ganti nama…", "SPG Presence Console — {outlet}": "SPG Presence Console — {outlet}", "SPG id": "ID SPG",
    "SPGs:": "SPG:", "Samples": "Sampel", "Sat": "Sab", "Save in": "Simpan di", "Saved {file}": "Tersimpan {file}",
    "Select at least one face first.": "Pilih minimal satu wajah dulu.", "Send alerts to Telegram": "Kirim peringatan ke Telegram",
    "Send test message": "Kirim pesan uji", "Sending…": "Mengirim…", "Sent. Check the Telegram chat.": "Terkirim. Periksa chat Telegram.",
    "Settings": "Pengaturan", "Settings saved and applied": "Pengaturan disimpan dan diterapkan", "Settings…": "Pengaturan…",
    "Shift": "Shift", "Shift (default for every SPG; no day ticked = always on duty):": "Shift (bawaan untuk semua SPG; tanpa hari dicentang = selalu bertugas):",
    "Since": "Sejak", "Smallest face to recognise (pixels)": "Wajah terkecil yang dikenali (piksel)", "Source": "Sumber",
    "Start preview": "Mulai pratinjau", "Starting the camera and the face engine…": "Menyalakan kamera dan mesin wajah…",
    "State": "Status", "Stopping cameras…": "Menghentikan kamera…", "Sun": "Min", "Telegram": "Telegram",
    "Telegram is switched on but the bot token or chat id is missing.": "Telegram dinyalakan tetapi token bot atau ID chat belum diisi.",
    "Test connection": "Uji sambungan", "The camera pipeline stopped": "Pipeline kamera berhenti",
    "The camera stopped sending pictures.": "Kamera berhenti mengirim gambar.",
    "The end date is before the start date.": "Tanggal akhir sebelum tanggal awal.",
    "The face engine could not start: {err}": "Mesin wajah tidak bisa mulai: {err}",
    "The face is too small. Move closer to the camera or use a bigger photo.": "Wajah terlalu kecil. Mendekatlah ke kamera atau pakai foto yang lebih besar.",
    "The face is turned away. Look straight at the camera.": "Wajah menoleh. Lihat lurus ke kamera.",
    "The file could not be opened as a photo. Use a JPG or PNG picture.": "Berkas tidak bisa dibuka sebagai foto. Pakai gambar JPG atau PNG.",
    "The photo is too blurred. Hold still, use good light and try again.": "Foto terlalu buram. Jangan bergerak, pakai cahaya yang baik lalu coba lagi.",
    "The report could not be made: {err}": "Laporan tidak bisa dibuat: {err}",
    "There is more than one face in the photo. Use a photo of this SPG alone.": "Ada lebih dari satu wajah di foto. Pakai foto SPG ini sendirian.",
    "This face looks like another SPG already enrolled{other}. Check you chose the right person.": "Wajah ini mirip SPG lain yang sudah terdaftar{other}. Periksa apakah orangnya sudah benar.",
    "Thu": "Kam", "Tick at least one SPG.": "Centang minimal satu SPG.", "Time zone": "Zona waktu", "To": "Sampai",
    "To use another data folder start the console with --data-dir or set SPG_DATA_DIR.": "Untuk memakai folder data lain, jalankan konsol dengan --data-dir atau atur SPG_DATA_DIR.",
    "Tue": "Sel", "Turn to the camera: look straight at it.": "Hadap ke kamera: lihat lurus ke kamera.",
    "Type the SPG's name first.": "Ketik nama SPG dulu.", "Unknown faces": "Wajah tak dikenal", "Use a pack folder…": "Pakai folder paket…",
    "Version": "Versi", "Video file": "Berkas video", "Wed": "Rab", "Where to save the report": "Tempat menyimpan laporan",
    "blurred": "buram", "bot token from @BotFather": "token bot dari @BotFather", "camera": "kamera",
    "chat id, e.g. -1001234567890": "ID chat, mis. -1001234567890", "connecting": "menyambung",
    "empty = the value calibrated for the model": "kosong = nilai kalibrasi model", "failed": "gagal", "grace": "tenggang", "no view": "tidak terpantau",
    "info": "info", "live": "aktif", "made from the name": "dibuat dari nama", "no": "tidak", "no SPG enrolled": "belum ada SPG terdaftar",
    "frozen: no new picture for {s:.0f} s": "beku: tidak ada gambar baru selama {s:.0f} dtk",
    "not seen": "belum terlihat", "not started yet": "belum dimulai", "presence": "kehadiran", "reconnecting": "menyambung ulang",
    "rtsp://<user>:<password>@<camera-ip>/stream, a webcam number (0) or a video file": "rtsp://<user>:<password>@<camera-ip>/stream, nomor webcam (0) atau berkas video",
    "running": "berjalan", "see the pack's folder": "lihat folder paket", "starting…": "memulai…", "stopped": "berhenti",
    "too small": "terlalu kecil", "unknown": "tak dikenal", "waiting for frames…": "menunggu gambar…", "yes": "ya",
    "{engine} · {provider} · {lat:.0f} ms": "{engine} · {provider} · {lat:.0f} ms",
    "{fps:.1f} fps · {dropped} dropped": "{fps:.1f} fps · {dropped} terbuang", "{name} deleted.": "{name} dihapus.",
    "{name} enrolled with {n} photo(s).": "{name} terdaftar dengan {n} foto.",
    "{name} is ABSENT (away longer than allowed)": "{name} TIDAK HADIR (pergi lebih lama dari batas)",
    "{name}: {state}": "{name}: {state}", "{n} SPG(s) enrolled.": "{n} SPG terdaftar.",
    "{n} unknown face(s)": "{n} wajah tak dikenal", "{present} of {total} present": "{present} dari {total} hadir",
}
ID.update({
    "Re-index finished: {n} photo(s).": "Indeks ulang selesai: {n} foto.",
    "{n} could not be re-indexed: {which}": "{n} tidak bisa diindeks ulang: {which}",
    "Restarting the cameras with the new settings…": "Menjalankan ulang kamera dengan pengaturan baru…",
    "Warning: this face looks like another SPG already enrolled ({other}, similarity {sim:.2f}). Check you chose the right person.":
        "Peringatan: wajah ini mirip SPG lain yang sudah terdaftar ({other}, kemiripan {sim:.2f}). Periksa apakah orangnya sudah benar.",
    "Preparing the demo outlet (first run only)…": "Menyiapkan outlet demo (hanya saat pertama kali)…",
    "The data folder {dir} cannot be used: {err}. Choose another with --data-dir or SPG_DATA_DIR.":
        "Folder data {dir} tidak bisa dipakai: {err}. Pilih folder lain dengan --data-dir atau SPG_DATA_DIR.",
    "The console is already running for the data folder {dir}. Use the open window (check the taskbar); only one console may use a data folder at a time.":
        "Konsol sudah berjalan untuk folder data {dir}. Pakai jendela yang sudah terbuka (lihat taskbar); satu folder data hanya boleh dipakai satu konsol.",
    "The data folder {dir} is already in use by {owner}: a console or headless run is already running there. Only one may use a data folder at a time. Close the other one first (check the taskbar), or choose another data folder with --data-dir.":
        "Folder data {dir} sedang dipakai oleh {owner}: sebuah konsol atau proses tanpa tampilan sudah berjalan di sana. Satu folder data hanya boleh dipakai satu proses. Tutup yang lain dulu (lihat taskbar), atau pilih folder data lain dengan --data-dir.",
})
ID.update({
    "The console could not start:\n{err}\n\nDetails are in {log}.": "Konsol tidak bisa mulai:\n{err}\n\nRincian ada di {log}.",
    "The console could not start:\n{err}": "Konsol tidak bisa mulai:\n{err}",
    "The settings are not valid:\n{err}": "Pengaturan tidak valid:\n{err}",
    "The demo outlet could not be prepared:\n{err}": "Outlet demo tidak bisa disiapkan:\n{err}",
})
ID.update({
    "Save": "Simpan", "Cancel": "Batal", "Close": "Tutup", "OK": "OK", "GRACE": "TENGGANG", "NOT SEEN": "BELUM TERLIHAT",
})
ID.update({
    "Demo outlet: the cameras play recorded footage of demo SPGs. To set up your outlet, open Settings → Cameras and add your cameras (Test connection shows a picture); the console opens your outlet from its next start, where you enroll your SPGs in the Gallery tab.":
        "Outlet demo: kamera memutar rekaman SPG demo. Untuk menyiapkan outlet Anda, buka Pengaturan → Kamera dan tambahkan kamera Anda (Uji sambungan menampilkan gambar); konsol membuka outlet Anda mulai saat dijalankan berikutnya, lalu daftarkan SPG Anda di tab Galeri.",
    "Your outlet's settings are saved. Close and start the console again to leave the demo and use your cameras.":
        "Pengaturan outlet Anda tersimpan. Tutup lalu jalankan konsol lagi untuk keluar dari demo dan memakai kamera Anda.",
    "Settings saved for your outlet (used from the next start)": "Pengaturan disimpan untuk outlet Anda (dipakai mulai saat dijalankan berikutnya)",
    "SPG already enrolled": "SPG sudah terdaftar",
    "The id {id} already belongs to {name} ({n} photo(s)). Add these photos to {name}?\n\nOnly photos of the same person are accepted, and the name stays {name}.": "ID {id} sudah dipakai oleh {name} ({n} foto). Tambahkan foto-foto ini ke {name}?\n\nHanya foto orang yang sama yang diterima, dan namanya tetap {name}.",
    "Nothing saved: choose another SPG id for a new person.": "Tidak ada yang disimpan: pilih ID SPG lain untuk orang baru.",
    "This face does not match the photos already enrolled for this SPG. Only photos of the same person can be added.": "Wajah ini tidak cocok dengan foto yang sudah terdaftar untuk SPG ini. Hanya foto orang yang sama yang bisa ditambahkan.",
    "The picture is too large (too many pixels). Use a smaller copy of the photo.": "Gambar terlalu besar (terlalu banyak piksel). Gunakan salinan foto yang lebih kecil.",
    "This SPG id cannot be used: {detail}.": "ID SPG ini tidak bisa dipakai: {detail}.",
    "This SPG id is already enrolled. Confirm adding the photos to that SPG, or choose another id for a new person.":
        "ID SPG ini sudah terdaftar. Konfirmasi penambahan foto ke SPG tersebut, atau pilih ID lain untuk orang baru.",
    "Adding photos never renames an SPG: keep their enrolled name, or rename them in the Gallery tab.":
        "Menambah foto tidak pernah mengganti nama SPG: pakai nama yang terdaftar, atau ganti namanya di tab Galeri.",
    "This SPG's photos were indexed with another face model, so the new photos cannot be checked against them. Re-index the gallery first.":
        "Foto SPG ini diindeks dengan model wajah lain, jadi foto baru tidak bisa dicocokkan. Indeks ulang galeri dulu.",
})
ID.update({  # gallery quality: not this person, look-alikes, visitors, webcam hints
    "Not {name}: never name this face so": "Bukan {name}: jangan pernah beri nama ini untuk wajah ini",
    "Look-alikes (these SPGs may be confused with each other):": "Mirip (SPG ini bisa tertukar satu sama lain):",
    "Not this person: faces marked as not the selected SPG": "Bukan orang ini: wajah yang ditandai bukan SPG yang dipilih",
    "Allow again": "Izinkan lagi",
    "Remove the selected mark: this face may be named as the SPG again.": "Hapus tanda yang dipilih: wajah ini boleh dikenali sebagai SPG itu lagi.",
    "{a} and {b} look alike (similarity {sim:.2f}): add more photos of each, or check they are not the same person": "{a} dan {b} mirip (kemiripan {sim:.2f}): tambahkan lebih banyak foto masing-masing, atau periksa bahwa mereka bukan orang yang sama",
    "No look-alike SPGs.": "Tidak ada SPG yang mirip.",
    "Not {name}: {n} face(s) marked": "Bukan {name}: {n} wajah ditandai",
    "Select a marked face first.": "Pilih dulu wajah yang ditandai.",
    "{name} may be recognised in those faces again.": "{name} boleh dikenali lagi pada wajah-wajah itu.",
    "no face could be found in that picture": "tidak ada wajah yang ditemukan di gambar itu",
    "{n} face(s) will no longer be recognised as {name}.": "{n} wajah tidak akan dikenali lagi sebagai {name}.",
    "Group into visitors": "Kelompokkan per pengunjung",
    "Not this SPG…": "Bukan SPG ini…",
    "Tell the console these faces are NOT a certain SPG, so it never names them so.": "Beri tahu konsol bahwa wajah-wajah ini BUKAN SPG tertentu, agar tidak pernah diberi nama itu.",
    "Faces that matched nobody (kept {days} days), grouped by person. Select a visitor or faces of the same person to enroll them.": "Wajah yang tidak cocok dengan siapa pun (disimpan {days} hari), dikelompokkan per orang. Pilih satu pengunjung atau wajah-wajah dari orang yang sama untuk mendaftarkannya.",
    "Visitor {n}\nseen {today} times today · {crops} crops": "Pengunjung {n}\nterlihat {today} kali hari ini · {crops} potongan",
    "repeat visitor": "pengunjung berulang",
    "{n} unknown face(s), {v} visitor(s) seen more than once": "{n} wajah tak dikenal, {v} pengunjung terlihat lebih dari sekali",
    "No SPG is enrolled yet.": "Belum ada SPG yang terdaftar.",
    "Not this SPG": "Bukan SPG ini",
    "These faces are not:": "Wajah-wajah ini bukan:",
    "More than one face of similar size: only the SPG should be close to the camera.": "Ada lebih dari satu wajah berukuran mirip: hanya SPG yang boleh dekat dengan kamera.",
    "e.g. 12:00-13:00, 15:00-15:15": "mis. 12:00-13:00, 15:00-15:15", " min": " mnt", "never": "tidak pernah",
    "Daily sheet (one row per SPG per day)": "Lembar harian (satu baris per SPG per hari)",
    "Monthly matrix (the month of the From date)": "Matriks bulanan (bulan dari tanggal Dari)", "Report": "Laporan",
    "Shifts": "Shift", "Shifts, breaks, holidays and days off: see the Shifts tab.": "Shift, istirahat, hari libur dan cuti: lihat tab Shift.",
    "Everyone (default schedule)": "Semua orang (jadwal bawaan)",
    "Own weekly schedule (otherwise the default one)": "Jadwal mingguan sendiri (selain itu jadwal bawaan)",
    "Works": "Masuk", "Start": "Mulai", "End": "Selesai", "Breaks": "Istirahat", "Late tolerance": "Toleransi terlambat",
    "Absent if late beyond": "Tidak hadir jika terlambat lebih dari", "round down": "bulatkan ke bawah",
    "round up": "bulatkan ke atas", "round to the nearest": "bulatkan ke terdekat", "Date": "Tanggal", "Kind": "Jenis",
    "Who": "Siapa", "Add a day": "Tambah hari", "Import CSV…": "Impor CSV…", "Schedule of": "Jadwal untuk",
    "Weekly pattern (shift times in the outlet's time zone; an end before the start runs past midnight and counts for the day it starts)": "Pola mingguan (jam shift dalam zona waktu outlet; jam selesai sebelum jam mulai berarti melewati tengah malam dan dihitung untuk hari shift dimulai)",
    "Overtime after the shift end": "Lembur setelah shift selesai", "Round to a multiple of": "Bulatkan ke kelipatan",
    "Rounding": "Pembulatan", "Less than this is no overtime": "Kurang dari ini bukan lembur",
    "Holidays, days off and one-day shifts": "Hari libur, cuti dan shift satu hari",
    "Breaks on {day}: {text!r} is not a time range; write it as 12:00-13:00.": "Istirahat hari {day}: {text!r} bukan rentang waktu; tulis seperti 12:00-13:00.",
    "Holiday": "Hari libur", "Day off": "Cuti", "One-day shift": "Shift satu hari", "Everyone": "Semua orang",
    "Calendar CSV": "CSV kalender", "Not imported: {err}": "Tidak diimpor: {err}",
    "Imported {n} day(s); {skipped} for other outlets left out.": "{n} hari diimpor; {skipped} untuk outlet lain dilewati.",
})
ID.update({  # HQ console (app.py hq)
    "Time": "Waktu", "Outlet": "Outlet", "SPG": "SPG", "Alert": "Peringatan", "Message": "Pesan",
    "Delivery": "Pengiriman", "absent": "tidak hadir", "back": "kembali", "camera offline": "kamera mati",
    "camera back": "kamera aktif lagi", "waiting": "menunggu", "sent": "terkirim", "not sent": "tidak dikirim",
    "Export attendance across outlets": "Ekspor kehadiran semua outlet",
    "Excel workbook: a summary sheet (one row per SPG, with their time at each outlet) and one sheet per outlet, days in the outlet's own time zone.":
        "Buku kerja Excel: satu lembar ringkasan (satu baris per SPG, dengan waktu mereka di tiap outlet) dan satu lembar per outlet, hari menurut zona waktu outlet itu sendiri.",
    "Where to save the export": "Tempat menyimpan ekspor",
    "The central database {url} cannot be read: {why}. Try again when it is reachable.":
        "Database pusat {url} tidak bisa dibaca: {why}. Coba lagi saat sudah bisa dijangkau.",
    "The export could not be made: {err}": "Ekspor tidak bisa dibuat: {err}",
    "SPG Presence Console — HQ": "SPG Presence Console — Kantor Pusat", "Alerts": "Peringatan",
    "Connecting to {url}…": "Menyambung ke {url}…", "Export attendance…": "Ekspor kehadiran…",
    "Refresh now": "Segarkan sekarang",
    "{url} · {online} of {total} outlets online · updated {time}":
        "{url} · {online} dari {total} outlet daring · diperbarui {time}",
    "The central database {url} cannot be read: {why}.": "Database pusat {url} tidak bisa dibaca: {why}.",
    "Reading the central database {url} failed: {why}.": "Gagal membaca database pusat {url}: {why}.",
    "Showing the data read at {time}; trying again every {n} s.":
        "Menampilkan data yang dibaca pada {time}; mencoba lagi setiap {n} detik.",
    "Nothing read yet; trying again every {n} s. Check the host, port, user and password of the URL and that the server is running.":
        "Belum ada data yang terbaca; mencoba lagi setiap {n} detik. Periksa host, port, pengguna dan kata sandi di URL, dan pastikan servernya berjalan.",
    "{url} · not reachable": "{url} · tidak terjangkau",
    "The central database {url} has not answered for {n} s.": "Database pusat {url} tidak menjawab selama {n} detik.",
    "Choose an outlet in the table above to see its SPGs and today's timeline.":
        "Pilih outlet di tabel atas untuk melihat SPG-nya dan linimasa hari ini.",
    "on shift": "sedang shift", "off shift": "di luar shift", "online": "daring", "offline": "luring",
    "{name} ({status}) · today from {day} ({tz})": "{name} ({status}) · hari ini sejak {day} ({tz})",
    "Status": "Status", "Last heartbeat": "Detak terakhir", "Present": "Hadir", "On shift": "Sedang shift",
    "Absent": "Tidak hadir", "SPGs": "SPG", "Open alerts": "Peringatan terbuka", "Cameras live": "Kamera aktif",
    "never": "belum pernah", "{name} ({id}), time zone {tz}": "{name} ({id}), zona waktu {tz}",
    "No central database: give --db postgresql://user:password@host/database, or set SPG_CENTRAL_URL in the environment or in the data folder's .env.":
        "Belum ada database pusat: berikan --db postgresql://user:password@host/database, atau isi SPG_CENTRAL_URL di environment atau di berkas .env folder data.",
})
ID.update({  # the central database link (issue 13)
    "Central: connected": "Pusat: tersambung",
    "Central: offline since {time}": "Pusat: terputus sejak {time}",
    "Central: not connected": "Pusat: belum tersambung",
    "{n} events waiting": "{n} kejadian menunggu",
})
ID.update({  # presence fraud checks (liveness, still face)
    "This face looks like a photo or a screen held up to the camera. The SPG must stand in front of the camera in person.":
        "Wajah ini tampak seperti foto atau layar yang diarahkan ke kamera. SPG harus berdiri sendiri di depan kamera.",
    "liveness check": "pemeriksaan keaslian wajah",
    "face has not moved": "wajah tidak bergerak",
    "Possible photo or screen at camera {camera}: {name} is not counted as present ({why})":
        "Kemungkinan foto atau layar di kamera {camera}: {name} tidak dihitung hadir ({why})",
})
PREFIX = {  # multi-line sources: translate by their first line
    "The cameras could not be started:": "Kamera tidak bisa dijalankan:\n{msg}\n\nPeriksa Pengaturan (kamera, paket model) dan log di {logs}.",
}


def fill(ts_path: Path) -> tuple[int, list[str]]:
    tree = ET.parse(ts_path)
    missing: list[str] = []
    done = 0
    for msg in tree.iter("message"):
        src = msg.findtext("source") or ""
        text = ID.get(src) or next((v for k, v in PREFIX.items() if src.startswith(k)), None)
        tr = msg.find("translation")
        if text:
            tr.text = text
            tr.attrib.pop("type", None)
            done += 1
        else:
            missing.append(src)
    tree.write(ts_path, encoding="utf-8", xml_declaration=True)
    return done, missing


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("spg_console_id.ts")
    n, missing = fill(path)
    print(f"{n} translated; {len(missing)} missing")
    for m in missing:
        print("  missing:", m)
