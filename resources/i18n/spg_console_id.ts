<?xml version='1.0' encoding='utf-8'?>
<TS version="2.1" language="id_ID">
<context>
    <name />
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="75" />
        <source>The picture is too large (too many pixels). Use a smaller copy of the photo.</source>
        <translation>Gambar terlalu besar (terlalu banyak piksel). Gunakan salinan foto yang lebih kecil.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="76" />
        <source>No face was found in the photo. Use a photo where the face is clear and facing the camera.</source>
        <translation>Tidak ada wajah di foto. Pakai foto dengan wajah yang jelas dan menghadap kamera.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="77" />
        <source>There is more than one face in the photo. Use a photo of this SPG alone.</source>
        <translation>Ada lebih dari satu wajah di foto. Pakai foto SPG ini sendirian.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="78" />
        <source>The face is too small. Move closer to the camera or use a bigger photo.</source>
        <translation>Wajah terlalu kecil. Mendekatlah ke kamera atau pakai foto yang lebih besar.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="80" />
        <source>This SPG id cannot be used: {detail}.</source>
        <translation>ID SPG ini tidak bisa dipakai: {detail}.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="83" />
        <source>This SPG id is already enrolled. Confirm adding the photos to that SPG, or choose another id for a new person.</source>
        <translation>ID SPG ini sudah terdaftar. Konfirmasi penambahan foto ke SPG tersebut, atau pilih ID lain untuk orang baru.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="85" />
        <source>Adding photos never renames an SPG: keep their enrolled name, or rename them in the Gallery tab.</source>
        <translation>Menambah foto tidak pernah mengganti nama SPG: pakai nama yang terdaftar, atau ganti namanya di tab Galeri.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="87" />
        <source>This SPG's photos were indexed with another face model, so the new photos cannot be checked against them. Re-index the gallery first.</source>
        <translation>Foto SPG ini diindeks dengan model wajah lain, jadi foto baru tidak bisa dicocokkan. Indeks ulang galeri dulu.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="89" />
        <source>This face does not match the photos already enrolled for this SPG. Only photos of the same person can be added.</source>
        <translation>Wajah ini tidak cocok dengan foto yang sudah terdaftar untuk SPG ini. Hanya foto orang yang sama yang bisa ditambahkan.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="91" />
        <source>This face looks like a photo or a screen held up to the camera. The SPG must stand in front of the camera in person.</source>
        <translation>Wajah ini tampak seperti foto atau layar yang diarahkan ke kamera. SPG harus berdiri sendiri di depan kamera.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="81" />
        <source>Type the SPG's name first.</source>
        <translation>Ketik nama SPG dulu.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="82" />
        <source>Add at least one photo.</source>
        <translation>Tambahkan minimal satu foto.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="79" />
        <source>The photo is too blurred. Hold still, use good light and try again.</source>
        <translation>Foto terlalu buram. Jangan bergerak, pakai cahaya yang baik lalu coba lagi.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="71" />
        <source>The file could not be opened as a photo. Use a JPG or PNG picture.</source>
        <translation>Berkas tidak bisa dibuka sebagai foto. Pakai gambar JPG atau PNG.</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="61" />
        <source>e.g. 12:00-13:00, 15:00-15:15</source>
        <translation>mis. 12:00-13:00, 15:00-15:15</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="64" />
        <location filename="../../ui/shift_editor.py" line="67" />
        <source> min</source>
        <translation> mnt</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="68" />
        <source>never</source>
        <translation>belum pernah</translation>
    </message>
</context>
<context>
    <name>AboutDialog</name>
    <message>
        <location filename="../../ui/about_dialog.py" line="25" />
        <source>About SPG Presence Console</source>
        <translation>Tentang SPG Presence Console</translation>
    </message>
    <message>
        <location filename="../../ui/about_dialog.py" line="31" />
        <source>Version</source>
        <translation>Versi</translation>
    </message>
    <message>
        <location filename="../../ui/about_dialog.py" line="32" />
        <source>Engine</source>
        <translation>Mesin</translation>
    </message>
    <message>
        <location filename="../../ui/about_dialog.py" line="33" />
        <source>Model pack</source>
        <translation>Paket model</translation>
    </message>
    <message>
        <location filename="../../ui/about_dialog.py" line="34" />
        <source>Model licence</source>
        <translation>Lisensi model</translation>
    </message>
    <message>
        <location filename="../../ui/about_dialog.py" line="34" />
        <source>see the pack's folder</source>
        <translation>lihat folder paket</translation>
    </message>
    <message>
        <location filename="../../ui/about_dialog.py" line="35" />
        <source>Execution provider</source>
        <translation>Penyedia eksekusi</translation>
    </message>
    <message>
        <location filename="../../ui/about_dialog.py" line="35" />
        <source>not started yet</source>
        <translation>belum dimulai</translation>
    </message>
</context>
<context>
    <name>AlertFeed</name>
    <message>
        <location filename="../../ui/hq_alerts.py" line="29" />
        <source>Time</source>
        <translation>Waktu</translation>
    </message>
    <message>
        <location filename="../../ui/hq_alerts.py" line="29" />
        <source>Outlet</source>
        <translation>Outlet</translation>
    </message>
    <message>
        <location filename="../../ui/hq_alerts.py" line="29" />
        <source>SPG</source>
        <translation>SPG</translation>
    </message>
    <message>
        <location filename="../../ui/hq_alerts.py" line="29" />
        <source>Alert</source>
        <translation>Peringatan</translation>
    </message>
    <message>
        <location filename="../../ui/hq_alerts.py" line="30" />
        <source>Message</source>
        <translation>Pesan</translation>
    </message>
    <message>
        <location filename="../../ui/hq_alerts.py" line="30" />
        <source>Delivery</source>
        <translation>Pengiriman</translation>
    </message>
    <message>
        <location filename="../../ui/hq_alerts.py" line="41" />
        <source>absent</source>
        <translation>tidak hadir</translation>
    </message>
    <message>
        <location filename="../../ui/hq_alerts.py" line="41" />
        <source>back</source>
        <translation>kembali</translation>
    </message>
    <message>
        <location filename="../../ui/hq_alerts.py" line="42" />
        <source>camera offline</source>
        <translation>kamera mati</translation>
    </message>
    <message>
        <location filename="../../ui/hq_alerts.py" line="42" />
        <source>camera back</source>
        <translation>kamera aktif lagi</translation>
    </message>
    <message>
        <location filename="../../ui/hq_alerts.py" line="45" />
        <source>waiting</source>
        <translation>menunggu</translation>
    </message>
    <message>
        <location filename="../../ui/hq_alerts.py" line="45" />
        <source>sent</source>
        <translation>terkirim</translation>
    </message>
    <message>
        <location filename="../../ui/hq_alerts.py" line="45" />
        <source>failed</source>
        <translation>gagal</translation>
    </message>
    <message>
        <location filename="../../ui/hq_alerts.py" line="46" />
        <source>not sent</source>
        <translation>tidak dikirim</translation>
    </message>
</context>
<context>
    <name>CameraEditDialog</name>
    <message>
        <location filename="../../ui/settings_dialog.py" line="70" />
        <source>Camera</source>
        <translation>Kamera</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="75" />
        <source>rtsp://&lt;user&gt;:&lt;password&gt;@&lt;camera-ip&gt;/stream, a webcam number (0) or a video file</source>
        <translation>rtsp://&lt;user&gt;:&lt;password&gt;@&lt;camera-ip&gt;/stream, nomor webcam (0) atau berkas video</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="76" />
        <source>Enabled</source>
        <translation>Aktif</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="78" />
        <source>File…</source>
        <translation>Berkas…</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="80" />
        <source>Test connection</source>
        <translation>Uji sambungan</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="82" />
        <source>No test yet.</source>
        <translation>Belum diuji.</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="89" />
        <source>Id</source>
        <translation>ID</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="90" />
        <source>Name</source>
        <translation>Nama</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="91" />
        <source>Source</source>
        <translation>Sumber</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="105" />
        <source>Video file</source>
        <translation>Berkas video</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="118" />
        <source>Connecting…</source>
        <translation>Menyambung…</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="132" />
        <source>Connected: {info}</source>
        <translation>Tersambung: {info}</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="134" />
        <source>Connection failed: {why}</source>
        <translation>Sambungan gagal: {why}</translation>
    </message>
</context>
<context>
    <name>CameraGrid</name>
    <message>
        <location filename="../../ui/camera_grid.py" line="47" />
        <source>No cameras yet. Add one in Settings → Cameras.</source>
        <translation>Belum ada kamera. Tambahkan di Pengaturan → Kamera.</translation>
    </message>
    <message>
        <location filename="../../ui/camera_grid.py" line="135" />
        <source>(Esc: back to all cameras)</source>
        <translation>(Esc: kembali ke semua kamera)</translation>
    </message>
</context>
<context>
    <name>CameraRateChart</name>
    <message>
        <location filename="../../ui/charts.py" line="116" />
        <source>Processed frames per second</source>
        <translation>Frame diproses per detik</translation>
    </message>
    <message>
        <location filename="../../ui/charts.py" line="120" />
        <source>Latency, capture to result (ms)</source>
        <translation>Latensi, dari tangkapan ke hasil (ms)</translation>
    </message>
</context>
<context>
    <name>CameraTile</name>
    <message>
        <location filename="../../ui/camera_tile.py" line="147" />
        <location filename="../../ui/camera_tile.py" line="150" />
        <source>connecting</source>
        <translation>menyambung</translation>
    </message>
    <message>
        <location filename="../../ui/camera_tile.py" line="149" />
        <source>live</source>
        <translation>aktif</translation>
    </message>
    <message>
        <location filename="../../ui/camera_tile.py" line="151" />
        <source>reconnecting</source>
        <translation>menyambung ulang</translation>
    </message>
    <message>
        <location filename="../../ui/camera_tile.py" line="152" />
        <source>failed</source>
        <translation>gagal</translation>
    </message>
    <message>
        <location filename="../../ui/camera_tile.py" line="153" />
        <source>stopped</source>
        <translation>berhenti</translation>
    </message>
    <message>
        <location filename="../../ui/camera_tile.py" line="156" />
        <source>frozen: no new picture for {s:.0f} s</source>
        <translation>beku: tidak ada gambar baru selama {s:.0f} dtk</translation>
    </message>
    <message>
        <location filename="../../ui/camera_tile.py" line="166" />
        <source>too small</source>
        <translation>terlalu kecil</translation>
    </message>
    <message>
        <location filename="../../ui/camera_tile.py" line="166" />
        <source>blurred</source>
        <translation>buram</translation>
    </message>
    <message>
        <location filename="../../ui/camera_tile.py" line="167" />
        <source>unknown</source>
        <translation>tak dikenal</translation>
    </message>
    <message>
        <location filename="../../ui/camera_tile.py" line="179" />
        <source>waiting for frames…</source>
        <translation>menunggu gambar…</translation>
    </message>
    <message>
        <location filename="../../ui/camera_tile.py" line="228" />
        <source>{fps:.1f} fps · {dropped} dropped</source>
        <translation>{fps:.1f} fps · {dropped} terbuang</translation>
    </message>
    <message>
        <location filename="../../ui/camera_tile.py" line="250" />
        <source>Not {name}: never name this face so</source>
        <translation>Bukan {name}: jangan pernah beri nama ini untuk wajah ini</translation>
    </message>
</context>
<context>
    <name>CentralLinkLabel</name>
    <message>
        <location filename="../../ui/central_link.py" line="29" />
        <source>Central: connected</source>
        <translation>Pusat: tersambung</translation>
    </message>
    <message>
        <location filename="../../ui/central_link.py" line="32" />
        <source>Central: offline since {time}</source>
        <translation>Pusat: terputus sejak {time}</translation>
    </message>
    <message>
        <location filename="../../ui/central_link.py" line="34" />
        <source>Central: not connected</source>
        <translation>Pusat: belum tersambung</translation>
    </message>
    <message>
        <location filename="../../ui/central_link.py" line="36" />
        <source>{n} events waiting</source>
        <translation>{n} kejadian menunggu</translation>
    </message>
</context>
<context>
    <name>EventLog</name>
    <message>
        <location filename="../../ui/event_log.py" line="47" />
        <source>ALERT</source>
        <translation>PERINGATAN</translation>
    </message>
    <message>
        <location filename="../../ui/event_log.py" line="47" />
        <source>presence</source>
        <translation>kehadiran</translation>
    </message>
    <message>
        <location filename="../../ui/event_log.py" line="47" />
        <source>camera</source>
        <translation>kamera</translation>
    </message>
    <message>
        <location filename="../../ui/event_log.py" line="47" />
        <source>info</source>
        <translation>info</translation>
    </message>
</context>
<context>
    <name>GalleryManager</name>
    <message>
        <location filename="../../ui/gallery_manager.py" line="78" />
        <source>Photo</source>
        <translation>Foto</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="78" />
        <source>Name</source>
        <translation>Nama</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="78" />
        <source>Samples</source>
        <translation>Sampel</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="78" />
        <source>Active</source>
        <translation>Aktif</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="86" />
        <source>Add from photos…</source>
        <translation>Tambah dari foto…</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="87" />
        <source>Enroll from camera…</source>
        <translation>Daftar dari kamera…</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="88" />
        <source>Rename…</source>
        <translation>Ganti nama…</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="89" />
        <location filename="../../ui/gallery_manager.py" line="276" />
        <source>Deactivate</source>
        <translation>Nonaktifkan</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="90" />
        <source>Delete…</source>
        <translation>Hapus…</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="91" />
        <source>Re-index</source>
        <translation>Indeks ulang</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="116" />
        <source>Look-alikes (these SPGs may be confused with each other):</source>
        <translation>Mirip (SPG ini bisa tertukar satu sama lain):</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="121" />
        <location filename="../../ui/gallery_manager.py" line="191" />
        <source>Not this person: faces marked as not the selected SPG</source>
        <translation>Bukan orang ini: wajah yang ditandai bukan SPG yang dipilih</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="126" />
        <source>Allow again</source>
        <translation>Izinkan lagi</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="127" />
        <source>Remove the selected mark: this face may be named as the SPG again.</source>
        <translation>Hapus tanda yang dipilih: wajah ini boleh dikenali sebagai SPG itu lagi.</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="146" />
        <source>Cannot read the gallery: {err}</source>
        <translation>Galeri tidak bisa dibaca: {err}</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="170" />
        <source>{a} and {b} look alike (similarity {sim:.2f}): add more photos of each, or check they are not the same person</source>
        <translation>{a} dan {b} mirip (kemiripan {sim:.2f}): tambahkan lebih banyak foto masing-masing, atau periksa bahwa mereka bukan orang yang sama</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="174" />
        <source>No look-alike SPGs.</source>
        <translation>Tidak ada SPG yang mirip.</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="190" />
        <source>Not {name}: {n} face(s) marked</source>
        <translation>Bukan {name}: {n} wajah ditandai</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="198" />
        <source>Select a marked face first.</source>
        <translation>Pilih dulu wajah yang ditandai.</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="207" />
        <source>{name} may be recognised in those faces again.</source>
        <translation>{name} boleh dikenali lagi pada wajah-wajah itu.</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="229" />
        <source>no face could be found in that picture</source>
        <translation>tidak ada wajah yang ditemukan di gambar itu</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="233" />
        <source>{n} face(s) will no longer be recognised as {name}.</source>
        <translation>{n} wajah tidak akan dikenali lagi sebagai {name}.</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="248" />
        <source>yes</source>
        <translation>ya</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="248" />
        <source>no</source>
        <translation>tidak</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="252" />
        <source>{n} SPG(s) enrolled.</source>
        <translation>{n} SPG terdaftar.</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="276" />
        <source>Activate</source>
        <translation>Aktifkan</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="285" />
        <source>Could not change the gallery: {err}</source>
        <translation>Galeri tidak bisa diubah: {err}</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="310" />
        <source>Rename SPG</source>
        <translation>Ganti nama SPG</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="310" />
        <source>New name:</source>
        <translation>Nama baru:</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="315" />
        <source>A name cannot be empty.</source>
        <translation>Nama tidak boleh kosong.</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="318" />
        <source>Renamed to {name}.</source>
        <translation>Nama diganti menjadi {name}.</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="334" />
        <source>Delete SPG</source>
        <translation>Hapus SPG</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="335" />
        <source>Delete {name} and all their face photos from the gallery? This cannot be undone.</source>
        <translation>Hapus {name} dan semua foto wajahnya dari galeri? Ini tidak bisa dibatalkan.</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="340" />
        <source>{name} deleted.</source>
        <translation>{name} dihapus.</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="348" />
        <source>Re-indexing the gallery with the current face model…</source>
        <translation>Mengindeks ulang galeri dengan model wajah saat ini…</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="359" />
        <source>Re-index finished: {n} photo(s).</source>
        <translation>Indeks ulang selesai: {n} foto.</translation>
    </message>
    <message>
        <location filename="../../ui/gallery_manager.py" line="361" />
        <source>{n} could not be re-indexed: {which}</source>
        <translation>{n} tidak bisa diindeks ulang: {which}</translation>
    </message>
</context>
<context>
    <name>HqExportDialog</name>
    <message>
        <location filename="../../ui/hq_export_dialog.py" line="44" />
        <source>Export attendance across outlets</source>
        <translation>Ekspor kehadiran semua outlet</translation>
    </message>
    <message>
        <location filename="../../ui/hq_export_dialog.py" line="54" />
        <source>Choose…</source>
        <translation>Pilih…</translation>
    </message>
    <message>
        <location filename="../../ui/hq_export_dialog.py" line="60" />
        <source>From</source>
        <translation>Dari</translation>
    </message>
    <message>
        <location filename="../../ui/hq_export_dialog.py" line="61" />
        <source>To</source>
        <translation>Sampai</translation>
    </message>
    <message>
        <location filename="../../ui/hq_export_dialog.py" line="62" />
        <source>Save in</source>
        <translation>Simpan di</translation>
    </message>
    <message>
        <location filename="../../ui/hq_export_dialog.py" line="63" />
        <source>Excel workbook: a summary sheet (one row per SPG, with their time at each outlet) and one sheet per outlet, days in the outlet's own time zone.</source>
        <translation>Buku kerja Excel: satu lembar ringkasan (satu baris per SPG, dengan waktu mereka di tiap outlet) dan satu lembar per outlet, hari menurut zona waktu outlet itu sendiri.</translation>
    </message>
    <message>
        <location filename="../../ui/hq_export_dialog.py" line="72" />
        <source>Export</source>
        <translation>Ekspor</translation>
    </message>
    <message>
        <location filename="../../ui/hq_export_dialog.py" line="86" />
        <source>Where to save the export</source>
        <translation>Tempat menyimpan ekspor</translation>
    </message>
    <message>
        <location filename="../../ui/hq_export_dialog.py" line="93" />
        <source>The end date is before the start date.</source>
        <translation>Tanggal akhir sebelum tanggal awal.</translation>
    </message>
    <message>
        <location filename="../../ui/hq_export_dialog.py" line="100" />
        <source>Exporting…</source>
        <translation>Mengekspor…</translation>
    </message>
    <message>
        <location filename="../../ui/hq_export_dialog.py" line="113" />
        <source>Saved {file}</source>
        <translation>Tersimpan {file}</translation>
    </message>
    <message>
        <location filename="../../ui/hq_export_dialog.py" line="122" />
        <source>The central database {url} cannot be read: {why}. Try again when it is reachable.</source>
        <translation>Database pusat {url} tidak bisa dibaca: {why}. Coba lagi saat sudah bisa dijangkau.</translation>
    </message>
    <message>
        <location filename="../../ui/hq_export_dialog.py" line="125" />
        <source>The export could not be made: {err}</source>
        <translation>Ekspor tidak bisa dibuat: {err}</translation>
    </message>
</context>
<context>
    <name>HqWindow</name>
    <message>
        <location filename="../../ui/hq_window.py" line="72" />
        <source>SPG Presence Console — HQ</source>
        <translation>SPG Presence Console — Kantor Pusat</translation>
    </message>
    <message>
        <location filename="../../ui/hq_window.py" line="79" />
        <source>Outlet</source>
        <translation>Outlet</translation>
    </message>
    <message>
        <location filename="../../ui/hq_window.py" line="80" />
        <source>Alerts</source>
        <translation>Peringatan</translation>
    </message>
    <message>
        <location filename="../../ui/hq_window.py" line="95" />
        <source>Connecting to {url}…</source>
        <translation>Menyambung ke {url}…</translation>
    </message>
    <message>
        <location filename="../../ui/hq_window.py" line="105" />
        <source>&amp;File</source>
        <translation>&amp;Berkas</translation>
    </message>
    <message>
        <location filename="../../ui/hq_window.py" line="106" />
        <source>Export attendance…</source>
        <translation>Ekspor kehadiran…</translation>
    </message>
    <message>
        <location filename="../../ui/hq_window.py" line="110" />
        <source>Refresh now</source>
        <translation>Segarkan sekarang</translation>
    </message>
    <message>
        <location filename="../../ui/hq_window.py" line="115" />
        <source>Quit</source>
        <translation>Keluar</translation>
    </message>
    <message>
        <location filename="../../ui/hq_window.py" line="128" />
        <source>The central database {url} has not answered for {n} s.</source>
        <translation>Database pusat {url} tidak menjawab selama {n} detik.</translation>
    </message>
    <message>
        <location filename="../../ui/hq_window.py" line="158" />
        <source>{url} · {online} of {total} outlets online · updated {time}</source>
        <translation>{url} · {online} dari {total} outlet daring · diperbarui {time}</translation>
    </message>
    <message>
        <location filename="../../ui/hq_window.py" line="165" />
        <source>The central database {url} cannot be read: {why}.</source>
        <translation>Database pusat {url} tidak bisa dibaca: {why}.</translation>
    </message>
    <message>
        <location filename="../../ui/hq_window.py" line="168" />
        <source>Reading the central database {url} failed: {why}.</source>
        <translation>Gagal membaca database pusat {url}: {why}.</translation>
    </message>
    <message>
        <location filename="../../ui/hq_window.py" line="176" />
        <source>Showing the data read at {time}; trying again every {n} s.</source>
        <translation>Menampilkan data yang dibaca pada {time}; mencoba lagi setiap {n} detik.</translation>
    </message>
    <message>
        <location filename="../../ui/hq_window.py" line="179" />
        <source>Nothing read yet; trying again every {n} s. Check the host, port, user and password of the URL and that the server is running.</source>
        <translation>Belum ada data yang terbaca; mencoba lagi setiap {n} detik. Periksa host, port, pengguna dan kata sandi di URL, dan pastikan servernya berjalan.</translation>
    </message>
    <message>
        <location filename="../../ui/hq_window.py" line="184" />
        <source>{url} · not reachable</source>
        <translation>{url} · tidak terjangkau</translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <location filename="../../ui/main_window.py" line="75" />
        <location filename="../../ui/main_window.py" line="313" />
        <source>SPG Presence Console — {outlet}</source>
        <translation>SPG Presence Console — {outlet}</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="89" />
        <source>Presence</source>
        <translation>Kehadiran</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="90" />
        <source>Gallery</source>
        <translation>Galeri</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="91" />
        <source>Unknown faces</source>
        <translation>Wajah tak dikenal</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="92" />
        <source>Charts</source>
        <translation>Grafik</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="109" />
        <source>Event log</source>
        <translation>Log kejadian</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="115" />
        <source>no SPG enrolled</source>
        <translation>belum ada SPG terdaftar</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="116" />
        <source>starting…</source>
        <translation>memulai…</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="125" />
        <source>Demo outlet: the cameras play recorded footage of demo SPGs. To set up your outlet, open Settings → Cameras and add your cameras (Test connection shows a picture); the console opens your outlet from its next start, where you enroll your SPGs in the Gallery tab.</source>
        <translation>Outlet demo: kamera memutar rekaman SPG demo. Untuk menyiapkan outlet Anda, buka Pengaturan → Kamera dan tambahkan kamera Anda (Uji sambungan menampilkan gambar); konsol membuka outlet Anda mulai saat dijalankan berikutnya, lalu daftarkan SPG Anda di tab Galeri.</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="129" />
        <source>No camera configured yet: open Settings → Cameras to add one.</source>
        <translation>Belum ada kamera: buka Pengaturan → Kamera untuk menambahkan.</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="161" />
        <source>&amp;File</source>
        <translation>&amp;Berkas</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="162" />
        <source>Export attendance report…</source>
        <translation>Ekspor laporan kehadiran…</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="167" />
        <source>Quit</source>
        <translation>Keluar</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="171" />
        <source>&amp;Gallery</source>
        <translation>&amp;Galeri</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="172" />
        <source>Enroll from photos…</source>
        <translation>Daftar dari foto…</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="175" />
        <source>Enroll from camera…</source>
        <translation>Daftar dari kamera…</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="178" />
        <source>&amp;Settings</source>
        <translation>&amp;Pengaturan</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="179" />
        <source>Settings…</source>
        <translation>Pengaturan…</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="183" />
        <source>&amp;Help</source>
        <translation>&amp;Bantuan</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="184" />
        <source>About</source>
        <translation>Tentang</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="238" />
        <source>{engine} · {provider} · {lat:.0f} ms</source>
        <translation>{engine} · {provider} · {lat:.0f} ms</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="249" />
        <source>running</source>
        <translation>berjalan</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="250" />
        <source>Pipeline started</source>
        <translation>Pipeline dimulai</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="253" />
        <source>Pipeline problem: {msg}</source>
        <translation>Masalah pipeline: {msg}</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="254" />
        <source>stopped</source>
        <translation>berhenti</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="255" />
        <source>The camera pipeline stopped</source>
        <translation>Pipeline kamera berhenti</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="256" />
        <source>The cameras could not be started:
{msg}

Check Settings (cameras, model pack) and the log in {logs}.</source>
        <translation>Kamera tidak bisa dijalankan:
{msg}

Periksa Pengaturan (kamera, paket model) dan log di {logs}.</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="300" />
        <source>Your outlet's settings are saved. Close and start the console again to leave the demo and use your cameras.</source>
        <translation>Pengaturan outlet Anda tersimpan. Tutup lalu jalankan konsol lagi untuk keluar dari demo dan memakai kamera Anda.</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="302" />
        <source>Settings saved for your outlet (used from the next start)</source>
        <translation>Pengaturan disimpan untuk outlet Anda (dipakai mulai saat dijalankan berikutnya)</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="314" />
        <source>Settings saved and applied</source>
        <translation>Pengaturan disimpan dan diterapkan</translation>
    </message>
    <message>
        <location filename="../../ui/main_window.py" line="337" />
        <source>Stopping cameras…</source>
        <translation>Menghentikan kamera…</translation>
    </message>
</context>
<context>
    <name>OutletDetailPanel</name>
    <message>
        <location filename="../../ui/hq_outlet_detail.py" line="21" />
        <location filename="../../ui/hq_outlet_detail.py" line="61" />
        <source>Choose an outlet in the table above to see its SPGs and today's timeline.</source>
        <translation>Pilih outlet di tabel atas untuk melihat SPG-nya dan linimasa hari ini.</translation>
    </message>
    <message>
        <location filename="../../ui/hq_outlet_detail.py" line="38" />
        <source>on shift</source>
        <translation>sedang shift</translation>
    </message>
    <message>
        <location filename="../../ui/hq_outlet_detail.py" line="38" />
        <source>off shift</source>
        <translation>di luar shift</translation>
    </message>
    <message>
        <location filename="../../ui/hq_outlet_detail.py" line="48" />
        <source>online</source>
        <translation>daring</translation>
    </message>
    <message>
        <location filename="../../ui/hq_outlet_detail.py" line="48" />
        <source>offline</source>
        <translation>luring</translation>
    </message>
    <message>
        <location filename="../../ui/hq_outlet_detail.py" line="49" />
        <source>{name} ({status}) · today from {day} ({tz})</source>
        <translation>{name} ({status}) · hari ini sejak {day} ({tz})</translation>
    </message>
</context>
<context>
    <name>OutletsModel</name>
    <message>
        <location filename="../../ui/hq_outlets.py" line="34" />
        <source>Outlet</source>
        <translation>Outlet</translation>
    </message>
    <message>
        <location filename="../../ui/hq_outlets.py" line="34" />
        <source>Status</source>
        <translation>Status</translation>
    </message>
    <message>
        <location filename="../../ui/hq_outlets.py" line="34" />
        <source>Last heartbeat</source>
        <translation>Detak terakhir</translation>
    </message>
    <message>
        <location filename="../../ui/hq_outlets.py" line="34" />
        <source>Present</source>
        <translation>Hadir</translation>
    </message>
    <message>
        <location filename="../../ui/hq_outlets.py" line="35" />
        <source>On shift</source>
        <translation>Sedang shift</translation>
    </message>
    <message>
        <location filename="../../ui/hq_outlets.py" line="35" />
        <source>Absent</source>
        <translation>Tidak hadir</translation>
    </message>
    <message>
        <location filename="../../ui/hq_outlets.py" line="35" />
        <source>SPGs</source>
        <translation>SPG</translation>
    </message>
    <message>
        <location filename="../../ui/hq_outlets.py" line="35" />
        <source>Open alerts</source>
        <translation>Peringatan terbuka</translation>
    </message>
    <message>
        <location filename="../../ui/hq_outlets.py" line="36" />
        <source>Cameras live</source>
        <translation>Kamera aktif</translation>
    </message>
    <message>
        <location filename="../../ui/hq_outlets.py" line="75" />
        <source>online</source>
        <translation>daring</translation>
    </message>
    <message>
        <location filename="../../ui/hq_outlets.py" line="75" />
        <source>offline</source>
        <translation>luring</translation>
    </message>
    <message>
        <location filename="../../ui/hq_outlets.py" line="76" />
        <source>never</source>
        <translation>belum pernah</translation>
    </message>
    <message>
        <location filename="../../ui/hq_outlets.py" line="93" />
        <source>{name} ({id}), time zone {tz}</source>
        <translation>{name} ({id}), zona waktu {tz}</translation>
    </message>
</context>
<context>
    <name>PhotoEnrollDialog</name>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="184" />
        <source>Enroll an SPG from photos</source>
        <translation>Daftarkan SPG dari foto</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="193" />
        <source>Add photos…</source>
        <translation>Tambah foto…</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="195" />
        <source>Remove selected</source>
        <translation>Hapus yang dipilih</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="204" />
        <source>Photos (one face each, several photos give better recognition):</source>
        <translation>Foto (satu wajah per foto, beberapa foto membuat pengenalan lebih baik):</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="224" />
        <source>Choose photos of the SPG</source>
        <translation>Pilih foto SPG</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="235" />
        <source>Type the SPG's name first.</source>
        <translation>Ketik nama SPG dulu.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="238" />
        <source>Add at least one photo.</source>
        <translation>Tambahkan minimal satu foto.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="242" />
        <source>Nothing saved: choose another SPG id for a new person.</source>
        <translation>Tidak ada yang disimpan: pilih ID SPG lain untuk orang baru.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="247" />
        <source>Enrolling… (the face engine may take a few seconds to start)</source>
        <translation>Mendaftarkan… (mesin wajah mungkin perlu beberapa detik untuk mulai)</translation>
    </message>
</context>
<context>
    <name>PipelineController</name>
    <message>
        <location filename="../../ui/controller.py" line="274" />
        <source>Camera {cam} added</source>
        <translation>Kamera {cam} ditambahkan</translation>
    </message>
    <message>
        <location filename="../../ui/controller.py" line="277" />
        <source>Camera {cam} removed</source>
        <translation>Kamera {cam} dihapus</translation>
    </message>
    <message>
        <location filename="../../ui/controller.py" line="285" />
        <source>Could not apply a change: {err}</source>
        <translation>Perubahan tidak bisa diterapkan: {err}</translation>
    </message>
    <message>
        <location filename="../../ui/controller.py" line="298" />
        <source>Restarting the cameras with the new settings…</source>
        <translation>Menjalankan ulang kamera dengan pengaturan baru…</translation>
    </message>
    <message>
        <location filename="../../ui/controller.py" line="222" />
        <source>Camera {cam} is live</source>
        <translation>Kamera {cam} aktif</translation>
    </message>
    <message>
        <location filename="../../ui/controller.py" line="223" />
        <source>Camera {cam} is reconnecting</source>
        <translation>Kamera {cam} menyambung ulang</translation>
    </message>
    <message>
        <location filename="../../ui/controller.py" line="224" />
        <source>Camera {cam} failed</source>
        <translation>Kamera {cam} gagal</translation>
    </message>
    <message>
        <location filename="../../ui/controller.py" line="240" />
        <source>liveness check</source>
        <translation>pemeriksaan keaslian wajah</translation>
    </message>
    <message>
        <location filename="../../ui/controller.py" line="240" />
        <source>face has not moved</source>
        <translation>wajah tidak bergerak</translation>
    </message>
    <message>
        <location filename="../../ui/controller.py" line="242" />
        <source>Possible photo or screen at camera {camera}: {name} is not counted as present ({why})</source>
        <translation>Kemungkinan foto atau layar di kamera {camera}: {name} tidak dihitung hadir ({why})</translation>
    </message>
    <message>
        <location filename="../../ui/controller.py" line="312" />
        <source>PRESENT</source>
        <translation>HADIR</translation>
    </message>
    <message>
        <location filename="../../ui/controller.py" line="312" />
        <source>GRACE</source>
        <translation>TENGGANG</translation>
    </message>
    <message>
        <location filename="../../ui/controller.py" line="312" />
        <source>ABSENT</source>
        <translation>TIDAK HADIR</translation>
    </message>
    <message>
        <location filename="../../ui/controller.py" line="313" />
        <source>NOT SEEN</source>
        <translation>BELUM TERLIHAT</translation>
    </message>
    <message>
        <location filename="../../ui/controller.py" line="320" />
        <source>{name}: {state}</source>
        <translation>{name}: {state}</translation>
    </message>
    <message>
        <location filename="../../ui/controller.py" line="318" />
        <source>{name} is ABSENT (away longer than allowed)</source>
        <translation>{name} TIDAK HADIR (pergi lebih lama dari batas)</translation>
    </message>
</context>
<context>
    <name>PresenceModel</name>
    <message>
        <location filename="../../ui/presence_table.py" line="85" />
        <source>Photo</source>
        <translation>Foto</translation>
    </message>
    <message>
        <location filename="../../ui/presence_table.py" line="85" />
        <source>Name</source>
        <translation>Nama</translation>
    </message>
    <message>
        <location filename="../../ui/presence_table.py" line="85" />
        <source>State</source>
        <translation>Status</translation>
    </message>
    <message>
        <location filename="../../ui/presence_table.py" line="85" />
        <source>Since</source>
        <translation>Sejak</translation>
    </message>
    <message>
        <location filename="../../ui/presence_table.py" line="86" />
        <source>Last camera</source>
        <translation>Kamera terakhir</translation>
    </message>
    <message>
        <location filename="../../ui/presence_table.py" line="86" />
        <source>Present today</source>
        <translation>Hadir hari ini</translation>
    </message>
    <message>
        <location filename="../../ui/presence_table.py" line="86" />
        <source>Shift</source>
        <translation>Shift</translation>
    </message>
    <message>
        <location filename="../../ui/presence_table.py" line="116" />
        <source>{present} of {total} present</source>
        <translation>{present} dari {total} hadir</translation>
    </message>
    <message>
        <location filename="../../ui/presence_table.py" line="120" />
        <source>PRESENT</source>
        <translation>HADIR</translation>
    </message>
    <message>
        <location filename="../../ui/presence_table.py" line="120" />
        <source>grace</source>
        <translation>tenggang</translation>
    </message>
    <message>
        <location filename="../../ui/presence_table.py" line="120" />
        <source>ABSENT</source>
        <translation>TIDAK HADIR</translation>
    </message>
    <message>
        <location filename="../../ui/presence_table.py" line="120" />
        <source>not seen</source>
        <translation>belum terlihat</translation>
    </message>
    <message>
        <location filename="../../ui/presence_table.py" line="120" />
        <source>no view</source>
        <translation>tidak terpantau</translation>
    </message>
</context>
<context>
    <name>PresenceTable</name>
    <message>
        <location filename="../../ui/presence_table.py" line="210" />
        <source>Filter by name, state or camera…</source>
        <translation>Saring menurut nama, status atau kamera…</translation>
    </message>
</context>
<context>
    <name>PresenceTimeline</name>
    <message>
        <location filename="../../ui/charts.py" line="32" />
        <source>Presence today</source>
        <translation>Kehadiran hari ini</translation>
    </message>
</context>
<context>
    <name>PreviewThread</name>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="304" />
        <source>Cannot open camera {src}. Check it is connected and not used by another program.</source>
        <translation>Kamera {src} tidak bisa dibuka. Pastikan kamera tersambung dan tidak dipakai program lain.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="318" />
        <source>The camera stopped sending pictures.</source>
        <translation>Kamera berhenti mengirim gambar.</translation>
    </message>
</context>
<context>
    <name>ReportDialog</name>
    <message>
        <location filename="../../ui/report_dialog.py" line="87" />
        <source>Export attendance report</source>
        <translation>Ekspor laporan kehadiran</translation>
    </message>
    <message>
        <location filename="../../ui/report_dialog.py" line="99" />
        <source>Daily sheet (one row per SPG per day)</source>
        <translation>Lembar harian (satu baris per SPG per hari)</translation>
    </message>
    <message>
        <location filename="../../ui/report_dialog.py" line="100" />
        <source>Monthly matrix (the month of the From date)</source>
        <translation>Matriks bulanan (bulan dari tanggal Dari)</translation>
    </message>
    <message>
        <location filename="../../ui/report_dialog.py" line="103" />
        <source>Excel (.xlsx)</source>
        <translation>Excel (.xlsx)</translation>
    </message>
    <message>
        <location filename="../../ui/report_dialog.py" line="104" />
        <source>CSV (.csv)</source>
        <translation>CSV (.csv)</translation>
    </message>
    <message>
        <location filename="../../ui/report_dialog.py" line="114" />
        <source>Choose…</source>
        <translation>Pilih…</translation>
    </message>
    <message>
        <location filename="../../ui/report_dialog.py" line="120" />
        <source>Report</source>
        <translation>Laporan</translation>
    </message>
    <message>
        <location filename="../../ui/report_dialog.py" line="121" />
        <source>From</source>
        <translation>Dari</translation>
    </message>
    <message>
        <location filename="../../ui/report_dialog.py" line="122" />
        <source>To</source>
        <translation>Sampai</translation>
    </message>
    <message>
        <location filename="../../ui/report_dialog.py" line="123" />
        <source>Format</source>
        <translation>Format</translation>
    </message>
    <message>
        <location filename="../../ui/report_dialog.py" line="124" />
        <source>Save in</source>
        <translation>Simpan di</translation>
    </message>
    <message>
        <location filename="../../ui/report_dialog.py" line="131" />
        <source>Export</source>
        <translation>Ekspor</translation>
    </message>
    <message>
        <location filename="../../ui/report_dialog.py" line="136" />
        <source>SPGs:</source>
        <translation>SPG:</translation>
    </message>
    <message>
        <location filename="../../ui/report_dialog.py" line="146" />
        <source>Where to save the report</source>
        <translation>Tempat menyimpan laporan</translation>
    </message>
    <message>
        <location filename="../../ui/report_dialog.py" line="158" />
        <source>The end date is before the start date.</source>
        <translation>Tanggal akhir sebelum tanggal awal.</translation>
    </message>
    <message>
        <location filename="../../ui/report_dialog.py" line="162" />
        <source>Tick at least one SPG.</source>
        <translation>Centang minimal satu SPG.</translation>
    </message>
    <message>
        <location filename="../../ui/report_dialog.py" line="175" />
        <source>Exporting…</source>
        <translation>Mengekspor…</translation>
    </message>
    <message>
        <location filename="../../ui/report_dialog.py" line="200" />
        <source>Saved {file}</source>
        <translation>Tersimpan {file}</translation>
    </message>
    <message>
        <location filename="../../ui/report_dialog.py" line="208" />
        <source>The report could not be made: {err}</source>
        <translation>Laporan tidak bisa dibuat: {err}</translation>
    </message>
</context>
<context>
    <name>SettingsDialog</name>
    <message>
        <location filename="../../ui/settings_dialog.py" line="144" />
        <source>Settings</source>
        <translation>Pengaturan</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="150" />
        <source>Cameras</source>
        <translation>Kamera</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="151" />
        <source>Recognition</source>
        <translation>Pengenalan</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="152" />
        <source>Presence &amp;&amp; shifts</source>
        <translation>Kehadiran &amp;&amp; shift</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="157" />
        <source>Shifts</source>
        <translation>Shift</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="158" />
        <source>Telegram</source>
        <translation>Telegram</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="159" />
        <location filename="../../ui/settings_dialog.py" line="337" />
        <source>Model pack</source>
        <translation>Paket model</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="160" />
        <source>Outlet &amp;&amp; data</source>
        <translation>Outlet &amp;&amp; data</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="198" />
        <source>Id</source>
        <translation>ID</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="198" />
        <source>Name</source>
        <translation>Nama</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="198" />
        <source>Source</source>
        <translation>Sumber</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="198" />
        <source>Enabled</source>
        <translation>Aktif</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="202" />
        <source>Add…</source>
        <translation>Tambah…</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="203" />
        <source>Edit…</source>
        <translation>Ubah…</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="204" />
        <source>Remove</source>
        <translation>Hapus</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="221" />
        <source>yes</source>
        <translation>ya</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="221" />
        <source>no</source>
        <translation>tidak</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="253" />
        <source>empty = the value calibrated for the model</source>
        <translation>kosong = nilai kalibrasi model</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="261" />
        <source>Recognition threshold (-1 to 1)</source>
        <translation>Ambang pengenalan (-1 sampai 1)</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="262" />
        <source>Smallest face to recognise (pixels)</source>
        <translation>Wajah terkecil yang dikenali (piksel)</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="263" />
        <source>Frames per second per camera</source>
        <translation>Frame per detik per kamera</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="276" />
        <source>Also notify when an SPG comes back</source>
        <translation>Beri tahu juga saat SPG kembali</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="279" />
        <source>Grace period (seconds not seen before 'grace')</source>
        <translation>Masa tenggang (detik tidak terlihat sebelum 'tenggang')</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="280" />
        <source>Absent after (seconds not seen)</source>
        <translation>Tidak hadir setelah (detik tidak terlihat)</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="284" />
        <source>Shifts, breaks, holidays and days off: see the Shifts tab.</source>
        <translation>Shift, istirahat, hari libur dan cuti: lihat tab Shift.</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="291" />
        <source>Send alerts to Telegram</source>
        <translation>Kirim peringatan ke Telegram</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="295" />
        <location filename="../../ui/settings_dialog.py" line="297" />
        <source>(saved, hidden)</source>
        <translation>(tersimpan, disembunyikan)</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="295" />
        <source>bot token from @BotFather</source>
        <translation>token bot dari @BotFather</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="297" />
        <source>chat id, e.g. -1001234567890</source>
        <translation>ID chat, mis. -1001234567890</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="298" />
        <source>Send test message</source>
        <translation>Kirim pesan uji</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="304" />
        <source>Bot token</source>
        <translation>Token bot</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="305" />
        <source>Chat id</source>
        <translation>ID chat</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="318" />
        <source>Active: {engine} · {pack} · {provider}</source>
        <translation>Aktif: {engine} · {pack} · {provider}</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="321" />
        <source>Use a pack folder…</source>
        <translation>Pakai folder paket…</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="323" />
        <source>Import a pack…</source>
        <translation>Impor paket…</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="325" />
        <source>Download a pack</source>
        <translation>Unduh paket</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="336" />
        <source>Engine</source>
        <translation>Mesin</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="354" />
        <source>Open folder</source>
        <translation>Buka folder</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="360" />
        <source>Outlet name</source>
        <translation>Nama outlet</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="361" />
        <source>Time zone</source>
        <translation>Zona waktu</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="362" />
        <source>Language (after restart)</source>
        <translation>Bahasa (setelah mulai ulang)</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="363" />
        <source>Data folder</source>
        <translation>Folder data</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="364" />
        <source>To use another data folder start the console with --data-dir or set SPG_DATA_DIR.</source>
        <translation>Untuk memakai folder data lain, jalankan konsol dengan --data-dir atau atur SPG_DATA_DIR.</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="376" />
        <source>Recognition threshold must be a number between -1 and 1, or empty (got {v!r}).</source>
        <translation>Ambang pengenalan harus angka antara -1 dan 1, atau kosong (diisi {v!r}).</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="399" />
        <source>Telegram is switched on but the bot token or chat id is missing.</source>
        <translation>Telegram dinyalakan tetapi token bot atau ID chat belum diisi.</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="406" />
        <location filename="../../ui/settings_dialog.py" line="409" />
        <source>Not saved. Please fix:</source>
        <translation>Tidak disimpan. Mohon perbaiki:</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="414" />
        <source>Not saved: cannot write the settings file ({err}).</source>
        <translation>Tidak disimpan: berkas pengaturan tidak bisa ditulis ({err}).</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="430" />
        <source>Sending…</source>
        <translation>Mengirim…</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="440" />
        <source>Sent. Check the Telegram chat.</source>
        <translation>Terkirim. Periksa chat Telegram.</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="440" />
        <location filename="../../ui/settings_dialog.py" line="444" />
        <source>Not sent: {why}</source>
        <translation>Tidak terkirim: {why}</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="449" />
        <source>Model pack folder</source>
        <translation>Folder paket model</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="461" />
        <source>Done. Save to use it; re-index the gallery afterwards if the model changed.</source>
        <translation>Selesai. Simpan untuk memakainya; indeks ulang galeri jika modelnya berubah.</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="465" />
        <source>Failed: {why}</source>
        <translation>Gagal: {why}</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="470" />
        <source>Folder with the model pack (.onnx files)</source>
        <translation>Folder paket model (berkas .onnx)</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="477" />
        <source>Importing…</source>
        <translation>Mengimpor…</translation>
    </message>
    <message>
        <location filename="../../ui/settings_dialog.py" line="485" />
        <source>Downloading {name}…</source>
        <translation>Mengunduh {name}…</translation>
    </message>
</context>
<context>
    <name>ShiftEditor</name>
    <message>
        <location filename="../../ui/shift_editor.py" line="101" />
        <source>Everyone (default schedule)</source>
        <translation>Semua orang (jadwal bawaan)</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="104" />
        <source>Own weekly schedule (otherwise the default one)</source>
        <translation>Jadwal mingguan sendiri (selain itu jadwal bawaan)</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="106" />
        <source>Works</source>
        <translation>Masuk</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="106" />
        <location filename="../../ui/shift_editor.py" line="135" />
        <source>Start</source>
        <translation>Mulai</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="106" />
        <location filename="../../ui/shift_editor.py" line="136" />
        <source>End</source>
        <translation>Selesai</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="107" />
        <source>Breaks</source>
        <translation>Istirahat</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="107" />
        <source>Late tolerance</source>
        <translation>Toleransi terlambat</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="108" />
        <source>Absent if late beyond</source>
        <translation>Tidak hadir jika terlambat lebih dari</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="111" />
        <source>Mon</source>
        <translation>Sen</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="111" />
        <source>Tue</source>
        <translation>Sel</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="111" />
        <source>Wed</source>
        <translation>Rab</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="111" />
        <source>Thu</source>
        <translation>Kam</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="111" />
        <source>Fri</source>
        <translation>Jum</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="111" />
        <source>Sat</source>
        <translation>Sab</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="112" />
        <source>Sun</source>
        <translation>Min</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="122" />
        <location filename="../../ui/shift_editor.py" line="131" />
        <source> min</source>
        <translation> mnt</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="125" />
        <source>round down</source>
        <translation>bulatkan ke bawah</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="125" />
        <source>round up</source>
        <translation>bulatkan ke atas</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="126" />
        <source>round to the nearest</source>
        <translation>bulatkan ke terdekat</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="135" />
        <source>Date</source>
        <translation>Tanggal</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="135" />
        <source>Kind</source>
        <translation>Jenis</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="135" />
        <source>Who</source>
        <translation>Siapa</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="136" />
        <source>Name</source>
        <translation>Nama</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="144" />
        <source>Add a day</source>
        <translation>Tambah hari</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="146" />
        <source>Remove selected</source>
        <translation>Hapus yang dipilih</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="148" />
        <source>Import CSV…</source>
        <translation>Impor CSV…</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="154" />
        <source>Schedule of</source>
        <translation>Jadwal untuk</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="157" />
        <source>Weekly pattern (shift times in the outlet's time zone; an end before the start runs past midnight and counts for the day it starts)</source>
        <translation>Pola mingguan (jam shift dalam zona waktu outlet; jam selesai sebelum jam mulai berarti melewati tengah malam dan dihitung untuk hari shift dimulai)</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="166" />
        <source>Overtime after the shift end</source>
        <translation>Lembur setelah shift selesai</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="168" />
        <source>Round to a multiple of</source>
        <translation>Bulatkan ke kelipatan</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="168" />
        <source>Rounding</source>
        <translation>Pembulatan</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="169" />
        <source>Less than this is no overtime</source>
        <translation>Kurang dari ini bukan lembur</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="173" />
        <source>Holidays, days off and one-day shifts</source>
        <translation>Hari libur, cuti dan shift satu hari</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="261" />
        <source>Breaks on {day}: {text!r} is not a time range; write it as 12:00-13:00.</source>
        <translation>Istirahat hari {day}: {text!r} bukan rentang waktu; tulis seperti 12:00-13:00.</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="275" />
        <source>Holiday</source>
        <translation>Hari libur</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="275" />
        <source>Day off</source>
        <translation>Cuti</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="275" />
        <source>One-day shift</source>
        <translation>Shift satu hari</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="279" />
        <source>Everyone</source>
        <translation>Semua orang</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="317" />
        <source>Calendar CSV</source>
        <translation>CSV kalender</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="326" />
        <source>Not imported: {err}</source>
        <translation>Tidak diimpor: {err}</translation>
    </message>
    <message>
        <location filename="../../ui/shift_editor.py" line="334" />
        <source>Imported {n} day(s); {skipped} for other outlets left out.</source>
        <translation>{n} hari diimpor; {skipped} untuk outlet lain dilewati.</translation>
    </message>
</context>
<context>
    <name>UnknownFacesPanel</name>
    <message>
        <location filename="../../ui/unknown_faces.py" line="83" />
        <source>Group into visitors</source>
        <translation>Kelompokkan per pengunjung</translation>
    </message>
    <message>
        <location filename="../../ui/unknown_faces.py" line="86" />
        <source>Enroll as SPG…</source>
        <translation>Daftarkan sebagai SPG…</translation>
    </message>
    <message>
        <location filename="../../ui/unknown_faces.py" line="88" />
        <source>Not this SPG…</source>
        <translation>Bukan SPG ini…</translation>
    </message>
    <message>
        <location filename="../../ui/unknown_faces.py" line="89" />
        <source>Tell the console these faces are NOT a certain SPG, so it never names them so.</source>
        <translation>Beri tahu konsol bahwa wajah-wajah ini BUKAN SPG tertentu, agar tidak pernah diberi nama itu.</translation>
    </message>
    <message>
        <location filename="../../ui/unknown_faces.py" line="91" />
        <source>Delete</source>
        <translation>Hapus</translation>
    </message>
    <message>
        <location filename="../../ui/unknown_faces.py" line="101" />
        <source>Faces that matched nobody (kept {days} days), grouped by person. Select a visitor or faces of the same person to enroll them.</source>
        <translation>Wajah yang tidak cocok dengan siapa pun (disimpan {days} hari), dikelompokkan per orang. Pilih satu pengunjung atau wajah-wajah dari orang yang sama untuk mendaftarkannya.</translation>
    </message>
    <message>
        <location filename="../../ui/unknown_faces.py" line="185" />
        <source>Visitor {n}
seen {today} times today · {crops} crops</source>
        <translation>Pengunjung {n}
terlihat {today} kali hari ini · {crops} potongan</translation>
    </message>
    <message>
        <location filename="../../ui/unknown_faces.py" line="188" />
        <source>repeat visitor</source>
        <translation>pengunjung berulang</translation>
    </message>
    <message>
        <location filename="../../ui/unknown_faces.py" line="199" />
        <source>{n} unknown face(s), {v} visitor(s) seen more than once</source>
        <translation>{n} wajah tak dikenal, {v} pengunjung terlihat lebih dari sekali</translation>
    </message>
    <message>
        <location filename="../../ui/unknown_faces.py" line="232" />
        <source>No SPG is enrolled yet.</source>
        <translation>Belum ada SPG yang terdaftar.</translation>
    </message>
    <message>
        <location filename="../../ui/unknown_faces.py" line="235" />
        <source>Not this SPG</source>
        <translation>Bukan SPG ini</translation>
    </message>
    <message>
        <location filename="../../ui/unknown_faces.py" line="235" />
        <source>These faces are not:</source>
        <translation>Wajah-wajah ini bukan:</translation>
    </message>
    <message>
        <location filename="../../ui/unknown_faces.py" line="221" />
        <location filename="../../ui/unknown_faces.py" line="227" />
        <source>Select at least one face first.</source>
        <translation>Pilih minimal satu wajah dulu.</translation>
    </message>
</context>
<context>
    <name>WebcamEnrollDialog</name>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="355" />
        <source>Enroll an SPG from a camera</source>
        <translation>Daftarkan SPG dari kamera</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="359" />
        <source>Local camera {n}</source>
        <translation>Kamera lokal {n}</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="361" />
        <source>Camera: {name}</source>
        <translation>Kamera: {name}</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="364" />
        <source>Start preview</source>
        <translation>Mulai pratinjau</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="367" />
        <source>Choose a camera and press Start preview.</source>
        <translation>Pilih kamera lalu tekan Mulai pratinjau.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="370" />
        <source>Capture</source>
        <translation>Ambil gambar</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="387" />
        <source>Captured shots (3 to 5 with slightly different angles work best):</source>
        <translation>Gambar yang diambil (3 sampai 5 dari sudut sedikit berbeda paling baik):</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="413" />
        <source>Starting the camera and the face engine…</source>
        <translation>Menyalakan kamera dan mesin wajah…</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="422" />
        <source>Good: press Capture.</source>
        <translation>Bagus: tekan Ambil gambar.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="423" />
        <source>No face seen. Stand in front of the camera.</source>
        <translation>Tidak ada wajah. Berdirilah di depan kamera.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="424" />
        <source>More than one face of similar size: only the SPG should be close to the camera.</source>
        <translation>Ada lebih dari satu wajah berukuran mirip: hanya SPG yang boleh dekat dengan kamera.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="425" />
        <source>Face too small: come closer to the camera.</source>
        <translation>Wajah terlalu kecil: mendekatlah ke kamera.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="426" />
        <source>Picture blurred: hold still (and check the light).</source>
        <translation>Gambar buram: jangan bergerak (dan periksa cahaya).</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="427" />
        <source>Turn to the camera: look straight at it.</source>
        <translation>Hadap ke kamera: lihat lurus ke kamera.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="440" />
        <source>No face to capture yet.</source>
        <translation>Belum ada wajah untuk diambil.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="459" />
        <source>Type the SPG's name first.</source>
        <translation>Ketik nama SPG dulu.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="462" />
        <source>Capture at least one shot first.</source>
        <translation>Ambil minimal satu gambar dulu.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="467" />
        <source>Nothing saved: choose another SPG id for a new person.</source>
        <translation>Tidak ada yang disimpan: pilih ID SPG lain untuk orang baru.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="472" />
        <source>Enrolling…</source>
        <translation>Mendaftarkan…</translation>
    </message>
</context>
<context>
    <name>_NameFields</name>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="162" />
        <source>Full name of the SPG</source>
        <translation>Nama lengkap SPG</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="164" />
        <source>made from the name</source>
        <translation>dibuat dari nama</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="167" />
        <source>Name</source>
        <translation>Nama</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="168" />
        <source>SPG id</source>
        <translation>ID SPG</translation>
    </message>
</context>
<context>
    <name>buttons</name>
    <message>
        <location filename="../../ui/i18n.py" line="52" />
        <source>Save</source>
        <translation>Simpan</translation>
    </message>
    <message>
        <location filename="../../ui/i18n.py" line="53" />
        <source>Cancel</source>
        <translation>Batal</translation>
    </message>
    <message>
        <location filename="../../ui/i18n.py" line="54" />
        <source>Close</source>
        <translation>Tutup</translation>
    </message>
    <message>
        <location filename="../../ui/i18n.py" line="55" />
        <source>OK</source>
        <translation>OK</translation>
    </message>
</context>
<context>
    <name>launch</name>
    <message>
        <location filename="../../ui/hq_launch.py" line="50" />
        <location filename="../../ui/launch.py" line="82" />
        <location filename="../../ui/launch.py" line="92" />
        <source>The data folder {dir} cannot be used: {err}. Choose another with --data-dir or SPG_DATA_DIR.</source>
        <translation>Folder data {dir} tidak bisa dipakai: {err}. Pilih folder lain dengan --data-dir atau SPG_DATA_DIR.</translation>
    </message>
    <message>
        <location filename="../../ui/hq_launch.py" line="56" />
        <source>No central database: give --db postgresql://user:password@host/database, or set SPG_CENTRAL_URL in the environment or in the data folder's .env.</source>
        <translation>Belum ada database pusat: berikan --db postgresql://user:password@host/database, atau isi SPG_CENTRAL_URL di environment atau di berkas .env folder data.</translation>
    </message>
    <message>
        <location filename="../../ui/launch.py" line="99" />
        <source>The console could not start:
{err}

Details are in {log}.</source>
        <translation>Konsol tidak bisa mulai:
{err}

Rincian ada di {log}.</translation>
    </message>
    <message>
        <location filename="../../ui/hq_launch.py" line="41" />
        <location filename="../../ui/launch.py" line="76" />
        <location filename="../../ui/launch.py" line="118" />
        <source>The settings are not valid:
{err}</source>
        <translation>Pengaturan tidak valid:
{err}</translation>
    </message>
    <message>
        <location filename="../../ui/launch.py" line="88" />
        <source>The data folder {dir} is already in use by {owner}: a console or headless run is already running there. Only one may use a data folder at a time. Close the other one first (check the taskbar), or choose another data folder with --data-dir.</source>
        <translation>Folder data {dir} sedang dipakai oleh {owner}: sebuah konsol atau proses tanpa tampilan sudah berjalan di sana. Satu folder data hanya boleh dipakai satu proses. Tutup yang lain dulu (lihat taskbar), atau pilih folder data lain dengan --data-dir.</translation>
    </message>
    <message>
        <location filename="../../ui/launch.py" line="132" />
        <source>The console could not start:
{err}</source>
        <translation>Konsol tidak bisa mulai:
{err}</translation>
    </message>
    <message>
        <location filename="../../ui/launch.py" line="162" />
        <source>Preparing the demo outlet (first run only)…</source>
        <translation>Menyiapkan outlet demo (hanya saat pertama kali)…</translation>
    </message>
    <message>
        <location filename="../../ui/launch.py" line="180" />
        <source>The demo outlet could not be prepared:
{err}</source>
        <translation>Outlet demo tidak bisa disiapkan:
{err}</translation>
    </message>
</context>
<context>
    <name>widget</name>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="103" />
        <source>The face engine could not start: {err}</source>
        <translation>Mesin wajah tidak bisa mulai: {err}</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="128" />
        <source>SPG already enrolled</source>
        <translation>SPG sudah terdaftar</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="129" />
        <source>The id {id} already belongs to {name} ({n} photo(s)). Add these photos to {name}?

Only photos of the same person are accepted, and the name stays {name}.</source>
        <translation>ID {id} sudah dipakai oleh {name} ({n} foto). Tambahkan foto-foto ini ke {name}?

Hanya foto orang yang sama yang diterima, dan namanya tetap {name}.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="140" />
        <source>Warning: this face looks like another SPG already enrolled ({other}, similarity {sim:.2f}). Check you chose the right person.</source>
        <translation>Peringatan: wajah ini mirip SPG lain yang sudah terdaftar ({other}, kemiripan {sim:.2f}). Periksa apakah orangnya sudah benar.</translation>
    </message>
    <message>
        <location filename="../../ui/enroll_dialogs.py" line="142" />
        <source>{name} enrolled with {n} photo(s).</source>
        <translation>{name} terdaftar dengan {n} foto.</translation>
    </message>
</context>
</TS>