# GPU host: housify-ai queue workers and internal API on NVIDIA GPUs (CUDA
# builds of torch and llama.cpp). Images go to S3 through this host's own
# Garage node (replicated with the edge's); Redis and PostgreSQL (db
# housify_ai) are the edge host's, over the LAN. With a single GPU host the
# edge's directory store over NFS also works (docs/deployment.md).
{ lib, ... }:

let
  secrets = "/var/lib/secrets/housify";
  edge = "10.0.1.10";
in
{
  imports = [
    ../common.nix
    ./hardware-configuration.nix
  ];

  networking.hostName = "housify-gpu-1";
  # REQUIRED: the MAC of this machine's LAN NIC (`ip link`); it becomes lan0. The value
  # below is a PLACEHOLDER: it evaluates (nix flake check) and a warning names it, but no
  # NIC has it, so the LAN rules stay closed until you replace it.
  services.housify.firewall.lanMacAddress = "02:00:00:00:00:00";
  networking.interfaces.lan0.ipv4.addresses = [
    {
      address = "10.0.1.20";
      prefixLength = 24;
    }
  ];

  services.housify-ai = {
    enable = true;
    gpu.enable = true;
    device = "cuda";
    workers = 1; # one per GPU
    api.listenAddress = "10.0.1.20";
    diffusionModel = "/var/lib/housify-ai/models/stable-diffusion-v1-5";
    # llmModel: null = SmolLM2-135M-Instruct from `housify-ai models pull`.
    database = {
      # TLS, the edge's certificate checked against the CA (sslmode=verify-full).
      url = "postgresql://housify_ai@${edge}:5432/housify_ai?sslmode=verify-full&sslrootcert=/etc/housify/postgres-ca.pem";
      passFile = "${secrets}/pgpass";
    };
    redis = {
      url = null;
      urlFile = "${secrets}/redis-url";
    };
    storage = {
      backend = "s3";
      s3 = {
        accessKeyIdFile = "${secrets}/s3-access-key-id";
        secretAccessKeyFile = "${secrets}/s3-secret-access-key";
      };
    };
  };

  # The NVIDIA driver (services.housify-ai.gpu.enable) is unfree; allow it, and only it, here
  # (the Housify modules write no nixpkgs.config). The CUDA libraries come as the lock's
  # nvidia-* wheels inside the housify-ai package.
  nixpkgs.config.allowUnfreePredicate =
    pkg:
    lib.elem (lib.getName pkg) [
      "nvidia-x11"
      "nvidia-settings"
      "nvidia-persistenced"
    ];

  services.housify.garage = {
    rpcPublicAddress = "10.0.1.20:3901";
    # After the first start: `garage node id` on the edge host, e.g.
    # bootstrapPeers = [ "<id>@${edge}:3901" ];
  };
  users.users.housify-ai.uid = 7401;
}
