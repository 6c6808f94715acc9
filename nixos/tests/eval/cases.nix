# Configurations for the lib-only module evaluation (check.nix, tests/nix).
# good: must evaluate. bad: must fail, with `error` in the message.
{ lib }:

let
  inherit (lib) mkDefault;
  base = {
    services.housify = {
      enable = true;
      domain = "housify.example.com";
      tls.acmeEmail = mkDefault "ops@example.com";
      firewall = {
        lanInterface = "lan0";
        internalSubnets = mkDefault [ "10.0.1.0/24" ];
        managementSubnets = mkDefault [ "10.0.99.0/24" ];
      };
    };
    services.openssh.enable = true;
    services.housify-ai.enable = mkDefault true;
    services.housify-api.jwt = {
      privateKeyFile = mkDefault "/run/secrets/housify/jwt-private.pem";
      publicKeyFile = mkDefault "/run/secrets/housify/jwt-public.pem";
    };
  };
  with' = change: { imports = [ base change ]; };
in
{
  inherit base;

  good = {
    edge-with-local-ai = base;
    three-instances = with' { services.housify-api.instances = 3; };
    gpu = with' {
      services.housify-ai = {
        gpu.enable = true;
        device = "cuda";
        workers = 2;
      };
    };
    lan-exposed = with' {
      services.housify = {
        lan.address = "10.0.1.10";
        redis.passwordFile = "/run/secrets/housify/redis-password";
        storage.nfsExport = true;
      };
      services.housify-api.redis = {
        url = null;
        urlFile = "/run/secrets/housify/redis-url";
      };
      services.housify-ai.redis = {
        url = null;
        urlFile = "/run/secrets/housify/redis-url";
      };
      services.housify-soap = {
        listenAddress = "10.0.1.10";
        allowedSources = [
          "10.0.1.11/32"
          "fd00:1::11/128"
        ];
      };
    };
  };

  bad = {
    instances-wrong-type = {
      configuration = with' { services.housify-api.instances = "four"; };
      error = "is not of type";
    };
    instances-zero = {
      configuration = with' { services.housify-api.instances = 0; };
      error = "is not of type";
    };
    device-not-in-enum = {
      configuration = with' { services.housify-ai.device = "gpu"; };
      error = "is not of type";
    };
    upload-size-malformed = {
      configuration = with' { services.housify.maxUploadSize = "lots"; };
      error = "is not of type";
    };
    secret-in-nix-store = {
      configuration = with' {
        services.housify-api.jwt.privateKeyFile = "/nix/store/00000000000000000000000000000000-jwt.pem";
      };
      error = "is not of type";
    };
    unknown-option = {
      configuration = with' { services.housify-api.instanses = 3; };
      error = "does not exist";
    };
    jwt-keys-missing = {
      configuration = with' {
        services.housify-api.jwt = {
          privateKeyFile = null;
          publicKeyFile = null;
        };
      };
      error = "jwt.privateKeyFile and publicKeyFile must be set";
    };
    cuda-without-gpu = {
      configuration = with' { services.housify-ai.device = "cuda"; };
      error = "needs services.housify-ai.gpu.enable";
    };
    ssh-open-to-the-world = {
      configuration = with' { services.openssh.openFirewall = true; };
      error = "openFirewall must be false";
    };
    no-management-subnet = {
      configuration = with' { services.housify.firewall.managementSubnets = [ ]; };
      error = "managementSubnets is empty";
    };
    internal-subnet-is-internet = {
      configuration = with' { services.housify.firewall.internalSubnets = [ "0.0.0.0/0" ]; };
      error = "must not contain 0.0.0.0/0";
    };
    redis-on-lan-without-password = {
      configuration = with' { services.housify.lan.address = "10.0.1.10"; };
      error = "redis.passwordFile is required";
    };
    redis-password-but-plain-url = {
      configuration = with' {
        services.housify.redis.passwordFile = "/run/secrets/housify/redis-password";
      };
      error = "set services.housify-api.redis.urlFile";
    };
    no-acme-no-certificate = {
      configuration = with' { services.housify.tls.acme = false; };
      error = "with acme = false set certificate";
    };
    soap-sources-on-loopback = {
      configuration = with' { services.housify-soap.allowedSources = [ "10.0.1.11/32" ]; };
      error = "remote API hosts could not connect";
    };
    no-ai-server = {
      configuration = with' { services.housify-ai.enable = false; };
      error = "aiServers is empty";
    };
  };
}
