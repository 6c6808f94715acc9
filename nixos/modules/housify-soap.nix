# services.housify-soap: the spyne CryptoRateService (SOAP 1.1 over uvicorn),
# reachable only from the API hosts.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  inherit (lib)
    types
    mkOption
    mkEnableOption
    mkPackageOption
    mkIf
    ;
  hlib = import ./lib.nix { inherit lib pkgs; };
  cfg = config.services.housify-soap;
  exe = lib.getExe' cfg.package "housify-soap";

  secrets = hlib.credentials { PGPASSFILE = cfg.database.passFile; };

  environment =
    hlib.toEnvironment {
      HOUSIFY_DATABASE_URL = cfg.database.url;
      HOUSIFY_DATA_DIR = "/var/lib/housify-soap";
      HOUSIFY_SOAP_BINANCE_URL = cfg.binanceUrl;
      PICCOLO_CONF = "housify_soap.piccolo_conf";
    }
    // secrets.environment
    // cfg.environment;

  serviceConfig = hlib.hardening // {
    DynamicUser = true;
    User = "housify-soap";
    Group = "housify-soap";
    StateDirectory = "housify-soap";
    StateDirectoryMode = "0700";
    WorkingDirectory = "/var/lib/housify-soap";
    LoadCredential = secrets.loadCredential;
  };
in
{
  options.services.housify-soap = {
    enable = mkEnableOption "the Housify SOAP CryptoRateService (Binance prices)";

    package = mkPackageOption pkgs "housify-soap" { };

    listenAddress = mkOption {
      type = types.str;
      default = "127.0.0.1";
      example = "10.0.1.10";
      description = "Address to bind; a LAN address when API instances run on other hosts.";
    };

    port = mkOption {
      type = types.port;
      default = 8300;
      description = "Port of the SOAP endpoint (`/soap`, WSDL at `/soap?wsdl`).";
    };

    allowedSources = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "10.0.1.11/32" ];
      description = ''
        Addresses or subnets of API hosts allowed to reach `port` over the LAN
        interface of `services.housify.firewall`. Empty: local callers only.
      '';
    };

    binanceUrl = mkOption {
      type = types.str;
      default = "https://api.binance.com";
      description = "`HOUSIFY_SOAP_BINANCE_URL`: base URL of Binance's REST API.";
    };

    database = {
      url = mkOption {
        type = types.str;
        default = "postgresql:///housify_soap?host=/run/postgresql&user=housify_soap";
        description = "`HOUSIFY_DATABASE_URL` of the price history (db `housify_soap`), without a password.";
      };
      passFile = hlib.mkSecretOption "A libpq `.pgpass` file for a remote database (`PGPASSFILE`).";
    };

    environment = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = {
        HOUSIFY_SOAP_CACHE_TTL = "5";
      };
      description = "Further `HOUSIFY_SOAP_*` settings (docs/soap.md); no secrets.";
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.allowedSources == [ ] || cfg.listenAddress != "127.0.0.1";
        message = "services.housify-soap.allowedSources is set but listenAddress is 127.0.0.1: remote API hosts could not connect.";
      }
      {
        assertion = !(lib.elem "0.0.0.0/0" cfg.allowedSources || lib.elem "::/0" cfg.allowedSources);
        message = "services.housify-soap.allowedSources must list the API hosts, not the whole Internet.";
      }
    ];

    systemd.services = {
      housify-soap-migrate = hlib.migrationUnit {
        description = "Housify SOAP database migrations";
        inherit exe environment serviceConfig;
        databaseUrl = cfg.database.url;
      };

      housify-soap = {
        description = "Housify SOAP CryptoRateService";
        wantedBy = [ "multi-user.target" ];
        after = [
          "housify-soap-migrate.service"
          "network-online.target"
        ];
        wants = [ "network-online.target" ];
        requires = [ "housify-soap-migrate.service" ];
        inherit environment;
        serviceConfig = serviceConfig // {
          ExecStart = "${exe} serve --host ${cfg.listenAddress} --port ${toString cfg.port}";
          Restart = "on-failure";
          RestartSec = 2;
        };
      };
    };
  };
}
