# Build the one-folder Windows distribution (dist\SPGPresenceConsole\) with PyInstaller and self-test it.
#
#   powershell -ExecutionPolicy Bypass -File scripts\build_exe.ps1
#   powershell -ExecutionPolicy Bypass -File scripts\build_exe.ps1 -Gpu             # onnxruntime-gpu build (.venv-gpu)
#   powershell -ExecutionPolicy Bypass -File scripts\build_exe.ps1 -BundlePack C:\packs\buffalo_l
#   powershell -ExecutionPolicy Bypass -File scripts\build_exe.ps1 -SelftestPack C:\packs\buffalo_s
#
# Needs Python 3.11 (64-bit) from python.org on PATH as "py -3.11" or "python". Run from any folder.
param(
    [switch]$Gpu,
    [string]$BundlePack = "",
    [string]$SelftestPack = "",
    [string]$DistDir = "dist",
    [string]$WorkDir = "build",
    [switch]$SkipInstall
)
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..")

$venv = if ($Gpu) { ".venv-gpu" } else { ".venv" }
$py = Join-Path $venv "Scripts\python.exe"
if (-not (Test-Path $py)) {
    if (Get-Command py -ErrorAction SilentlyContinue) { & py -3.11 -m venv $venv } else { & python -m venv $venv }
    if ($LASTEXITCODE -ne 0) { throw "could not create ${venv}: install Python 3.11 (64-bit) from python.org" }
}
if (-not $SkipInstall) {
    & $py -m pip install -q --upgrade pip
    if ($Gpu) {
        # onnxruntime and onnxruntime-gpu cannot live in one venv: the GPU venv gets requirements-gpu.txt only
        & $py -m pip install -q -r requirements-gpu.txt "pyinstaller==6.22.3"
    } else {
        & $py -m pip install -q -r requirements-dev.txt
    }
    if ($LASTEXITCODE -ne 0) { throw "pip install failed" }
}

if ($BundlePack) { $env:SPG_BUNDLE_PACK = (Resolve-Path $BundlePack).Path } else { Remove-Item Env:SPG_BUNDLE_PACK -ErrorAction SilentlyContinue }
$name = if ($env:SPG_DIST_NAME) { $env:SPG_DIST_NAME } else { "SPGPresenceConsole" }
$sw = [Diagnostics.Stopwatch]::StartNew()
& $py -m PyInstaller --noconfirm --distpath $DistDir --workpath $WorkDir build.spec
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }
$size = (Get-ChildItem -Recurse (Join-Path $DistDir $name) | Measure-Object -Property Length -Sum).Sum / 1MB
Write-Host ("built {0}\{1} in {2:N0} s, {3:N0} MB" -f $DistDir, $name, $sw.Elapsed.TotalSeconds, $size)

# Self-test with the console executable (the windowed one has no stdout), in a throw-away data folder.
$tmp = Join-Path ([IO.Path]::GetTempPath()) ("spg selftest " + [guid]::NewGuid().ToString("N").Substring(0, 8))
$env:SPG_DATA_DIR = $tmp
$cli = Join-Path $DistDir "$name\$name-cli.exe"
$selftestArgs = @("--selftest")
if ($SelftestPack) { $selftestArgs += @("--pack", $SelftestPack) }
try {
    & $cli @selftestArgs
    if ($LASTEXITCODE -ne 0) { throw "self-test of the build FAILED (exit $LASTEXITCODE)" }
} finally {
    Remove-Item Env:SPG_DATA_DIR -ErrorAction SilentlyContinue
    Remove-Item -Recurse -Force $tmp -ErrorAction SilentlyContinue
}
Write-Host "hand over the whole folder $DistDir\$name (zip it): see README, 'Packaging for outlet PCs'"
