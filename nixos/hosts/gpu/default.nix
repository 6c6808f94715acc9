# GPU host: housify-ai queue workers and internal API on NVIDIA GPUs (CUDA
# builds of torch and llama.cpp). Images go to the edge host's storage over NFS;
# Redis and PostgreSQL (db housify_ai) are the edge host's, over the LAN.
{ ... }:

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
      url = "postgresql://housify_ai@${edge}:5432/housify_ai";
      passFile = "${secrets}/pgpass";
    };
    redis = {
      url = null;
      urlFile = "${secrets}/redis-url";
    };
  };

  # The API's image storage, written by the workers.
  fileSystems."/var/lib/housify/storage" = {
    device = "${edge}:/var/lib/housify/storage";
    fsType = "nfs";
    options = [
      "nfsvers=4.2"
      "_netdev"
      "x-systemd.automount"
    ];
  };
  # Writes into the NFS storage through group housify (gid 7400, common.nix).
  users.users.housify-ai.uid = 7401;
}
