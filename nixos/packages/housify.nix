# The Housify Python project (pyproject.toml at the repository root) built with
# nixpkgs' Python 3.12 packages. One source, three packages that differ in
# their dependency closure and main program:
#   housify-api, housify-soap  -> the base dependencies
#   housify-ai                 -> plus the `ai` extra (torch, diffusers, llama.cpp)
# spyne imports `cgi`, removed in Python 3.13, hence python312.
{
  lib,
  python3Packages,
  src,
  component,
  withAI ? component == "ai",
  # The CUDA build of torch and llama.cpp follow nixpkgs' config.cudaSupport
  # (set by `services.housify-ai.gpu.enable` on GPU hosts).
  cudaSupport ? python3Packages.torch.cudaSupport or false,
}:

let
  ps = python3Packages;
  pyproject = lib.importTOML (src + "/pyproject.toml");
  mainPrograms = {
    api = "housify-api";
    ai = "housify-ai";
    soap = "housify-soap";
    all = "housify";
  };
in
assert lib.assertOneOf "component" component (lib.attrNames mainPrograms);
ps.buildPythonApplication {
  pname = "housify-${component}";
  inherit (pyproject.project) version;
  pyproject = true;
  inherit src;

  build-system = [
    ps.setuptools
    ps.wheel
  ];

  dependencies =
    with ps;
    [
      litestar
      uvicorn
      piccolo
      asyncpg
      aiosqlite
      msgspec
      pyjwt
      cryptography
      redis
      fakeredis
      argon2-cffi
      aiosmtplib
      httpx
      pillow
      prometheus-client
      limits
      spyne
      lxml
      a2wsgi
      zeep
    ]
    ++ uvicorn.optional-dependencies.standard or [ ]
    ++ lib.optionals withAI [
      (if cudaSupport then torchWithCuda else torch)
      diffusers
      transformers
      accelerate
      safetensors
      gguf
      (llama-cpp-python.override { inherit cudaSupport; })
    ];

  # nixpkgs' versions may differ in patch level from the bounds in
  # pyproject.toml (torch is pinned there for pip users only).
  pythonRelaxDeps = true;

  nativeCheckInputs = with ps; [
    pytestCheckHook
    pytest-asyncio
    pytest-timeout
    aiosmtpd
    httpx-ws
    websockets
  ];
  # The test suite needs PostgreSQL and Redis servers; it runs in the VM test
  # and in `nix develop -c scripts/test`, not in the sandbox.
  doCheck = false;

  pythonImportsCheck = [
    "housify_common"
    "housify_api"
    "housify_soap"
  ]
  ++ lib.optionals withAI [ "housify_ai" ];

  passthru = { inherit cudaSupport withAI; };

  meta = {
    inherit (pyproject.project) description;
    homepage = "https://github.com/housify/housify";
    license = lib.licenses.unfree;
    mainProgram = mainPrograms.${component};
    platforms = lib.platforms.linux;
  };
}
