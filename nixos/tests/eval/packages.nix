# The Python packages (nixos/packages/python.nix, housify.nix) evaluated with nixpkgs' lib and
# stand-ins of the nixpkgs functions they call (buildPythonPackage, fetchPypi, callPackage,
# llama-cpp-python's override), which keep their arguments. So the tests read what each
# derivation would be given (its fetchPypi arguments, its dependencies, autoPatchelf inputs)
# without nixpkgs; building them needs nixpkgs.
{ lib }:

let
  fake = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
  };
  # A Python package stand-in: the arguments it was built from, overridable as nixpkgs' are.
  pyPackage =
    attrs:
    fake (attrs.pname or attrs.name or "python-package")
    // {
      args = attrs;
      inherit (attrs) version;
      overridePythonAttrs = f: pyPackage (attrs // (if lib.isFunction f then f attrs else f));
    };
  ps = {
    buildPythonPackage = pyPackage;
    buildPythonApplication = pyPackage;
    fetchPypi = args: fake "fetchPypi" // { fetchArgs = args; };
    callPackage =
      f: args:
      import f (
        {
          inherit lib;
          buildPythonPackage = pyPackage;
          setuptools = fake "setuptools";
          python = python312;
        }
        // args
      );
    setuptools = fake "setuptools";
    wheel = fake "wheel";
    pytestCheckHook = fake "pytestCheckHook";
    llama-cpp-python = {
      override = o: pyPackage {
        pname = "llama-cpp-python";
        version = "0.3.6";
        recipeOverride = o;
      };
    };
  };
  python312 = fake "python3.12" // {
    pythonVersion = "3.12";
    sitePackages = "lib/python3.12/site-packages";
    interpreter = "/nix/store/00000000000000000000000000000000-python3.12/bin/python3.12";
    pkgs = ps;
  };
  stdenv = {
    hostPlatform.system = "x86_64-linux";
    cc.cc.lib = fake "gcc-lib";
  };
  housifyPython = import ../../packages/python.nix {
    inherit lib stdenv python312;
    autoPatchelfHook = fake "autoPatchelfHook";
    autoAddDriverRunpath = fake "autoAddDriverRunpath";
    zlib = fake "zlib";
    libGL = fake "libGL";
    glib = fake "glib";
    xorg = lib.genAttrs [ "libxcb" "libX11" "libXext" "libSM" "libICE" ] fake;
    vulkan-loader = fake "vulkan-loader";
    llvmPackages.openmp = fake "openmp";
  };
  housify =
    component:
    import ../../packages/housify.nix {
      inherit lib housifyPython component;
      src = ../../..;
    };
  names = map (d: d.name);
in
{
  python = housifyPython.python.pythonVersion;
  packages = lib.genAttrs [ "api" "ai" "soap" "all" ] (
    component:
    let
      p = housify component;
    in
    {
      inherit (p.args) pname version pythonImportsCheck;
      dependencies = names p.args.dependencies;
      checkInputs = names p.args.nativeCheckInputs;
      mainProgram = p.args.meta.mainProgram;
    }
  );
  locked = lib.mapAttrs (
    _: d:
    {
      inherit (d) version;
      src = d.args.src.fetchArgs or null;
      nativeBuildInputs = names (d.args.nativeBuildInputs or [ ]);
      buildInputs = names (d.args.buildInputs or [ ]);
      preFixup = d.args.preFixup or "";
      dependencies = names (d.args.dependencies or [ ]);
      format = d.args.format or null;
      recipeOverride = d.args.recipeOverride or null;
    }
  ) housifyPython.locked;
}
