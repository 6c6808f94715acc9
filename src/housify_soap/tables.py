"""piccolo tables of housify-soap."""

from piccolo.columns import Numeric, Timestamptz, Varchar
from piccolo.table import Table


class BinanceData(Table, tablename="binance_data"):
    """One price fetched from Binance's ``/api/v3/ticker/price`` (Binance Spot API, "Symbol price ticker").

    ``price`` is quote-asset units per one base asset (``BTCUSDT`` 43000.12 = USDT
    per BTC), exact on PostgreSQL (NUMERIC). On SQLite piccolo passes NUMERIC
    through a REAL, which keeps 15 significant digits: enough for Binance's
    8-decimal prices below 10^7. ``fetched_at`` is when the answer arrived (UTC).
    Also indexed on ``(symbol, fetched_at DESC)`` by a hand-written migration
    (piccolo's auto-migrations know single-column indexes only); rows are pruned
    by retention.py.
    """

    symbol = Varchar(length=20, index=True)
    price = Numeric(digits=(30, 12))
    fetched_at = Timestamptz(index=True)
