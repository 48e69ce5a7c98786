"""The curated fact and aggregate as pure DataFrame transforms (ADR 0011 decision 4).

``fact_order_items`` has V006's grain, columns and rules; ``agg_daily_sales`` summarises it per day and product
category. Inputs are the staging tables' current rows (``_deleted`` marks a deleted key) and the curated
dimensions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from batch.dimensions import surrogate_key, timestamp_literal

# The lower bound of a key's first version when resolving facts: an order placed before the first change the
# lake (or the warehouse) saw of its customer or product resolves to that first, earliest known version.
FIRST_VERSION_FROM: Final = "1900-01-01 00:00:00"
LINE_TOTAL_TYPE: Final = T.DecimalType(18, 2)
SUM_TYPE: Final = T.DecimalType(28, 2)

FACT_COLUMNS: Final = (
    "order_item_key", "order_id", "line_no", "customer_id", "product_id", "order_ts", "order_date_key",
    "customer_key", "product_key", "payment_method_key", "shipment_status_key", "order_status", "channel",
    "currency", "payment_method", "shipment_status", "quantity", "unit_price", "discount", "line_total",
    "updated_at",
)  # fmt: skip


def current_rows(staged: DataFrame) -> DataFrame:
    """A staging table's keys that exist now (``_deleted`` rows keep a deleted key's last image: not wanted)."""
    return staged.where(~F.coalesce(F.col("_deleted"), F.lit(False)))


def latest_per_order(staged: DataFrame, id_column: str, value_column: str, alias: str) -> DataFrame:
    """Per order, ``value_column`` of its current row with the highest ``id_column`` (V006: a later payment or
    shipment supersedes an earlier one)."""
    recency = Window.partitionBy("order_id").orderBy(F.col(id_column).desc())
    return (
        current_rows(staged)
        .select("order_id", id_column, F.col(value_column).alias(alias))
        .withColumn("_recency", F.row_number().over(recency))
        .where(F.col("_recency") == 1)
        .select(F.col("order_id").alias(f"_{alias}_order_id"), alias)
    )


def date_key(timestamp: SparkColumn) -> SparkColumn:
    """``YYYYMMDD`` of a timestamp as an INTEGER (NULL stays NULL)."""
    return (F.year(timestamp) * 10000 + F.month(timestamp) * 100 + F.dayofmonth(timestamp)).cast("int")


def resolvable_versions(dimension: DataFrame, natural: str, surrogate: str) -> DataFrame:
    """A SCD2 dimension's versions as ``[_resolve_from, _resolve_to)`` ranges per natural key; the first version
    of a key also covers the time before it (V006)."""
    first = Window.partitionBy(natural).orderBy("valid_from")
    return dimension.select(
        F.col(natural).alias(f"_{natural}"),
        surrogate,
        F.when(F.row_number().over(first) == 1, timestamp_literal(FIRST_VERSION_FROM))
        .otherwise(F.col("valid_from"))
        .alias(f"_{surrogate}_from"),
        F.col("valid_to").alias(f"_{surrogate}_to"),
    )


def _resolve(lines: DataFrame, dimension: DataFrame, natural: str, surrogate: str) -> DataFrame:
    versions = resolvable_versions(dimension, natural, surrogate)
    order_ts = lines["order_ts"]
    condition = (
        (lines[natural] == versions[f"_{natural}"])
        & (order_ts >= versions[f"_{surrogate}_from"])
        & (order_ts < versions[f"_{surrogate}_to"])
    )
    return lines.join(versions, condition, "left").drop(f"_{natural}", f"_{surrogate}_from", f"_{surrogate}_to")


def fact_order_items(
    orders: DataFrame,
    order_items: DataFrame,
    payments: DataFrame,
    shipments: DataFrame,
    *,
    dim_customer: DataFrame,
    dim_product: DataFrame,
    dim_payment_method: DataFrame,
    dim_shipment_status: DataFrame,
    loaded_at: datetime,
) -> DataFrame:
    """One row per order line that exists now (item and order not deleted), as V006 builds it:

    * degenerate attributes from the order, the latest current payment's method and shipment's status;
    * ``customer_key``/``product_key`` = the version valid at ``order_ts`` (``valid_from <= order_ts <
      valid_to``; before the first version: the first), NULL while the member is unknown or ``order_ts`` NULL;
    * ``payment_method_key``/``shipment_status_key`` by member name, ``order_date_key`` = ``YYYYMMDD``;
    * ``line_total = quantity * unit_price - discount`` as DECIMAL(18,2);
    * ``order_item_key`` = a hash of (order_id, line_no), stable across rebuilds.
    """
    payment = latest_per_order(payments, "payment_id", "method", "payment_method")
    shipment = latest_per_order(shipments, "shipment_id", "status", "shipment_status")
    items = current_rows(order_items).select("order_id", "line_no", "product_id", "quantity", "unit_price", "discount")
    heads = current_rows(orders).select(
        F.col("order_id").alias("_order_id"),
        "customer_id",
        "order_ts",
        F.col("status").alias("order_status"),
        "channel",
        "currency",
    )
    lines = (
        items.join(heads, items["order_id"] == heads["_order_id"], "inner")
        .drop("_order_id")
        .join(payment, F.col("order_id") == F.col("_payment_method_order_id"), "left")
        .drop("_payment_method_order_id")
        .join(shipment, F.col("order_id") == F.col("_shipment_status_order_id"), "left")
        .drop("_shipment_status_order_id")
    )
    lines = _resolve(lines, dim_customer, "customer_id", "customer_key")
    lines = _resolve(lines, dim_product, "product_id", "product_key")
    methods = dim_payment_method.select(F.col("method_name").alias("_method_name"), "payment_method_key")
    statuses = dim_shipment_status.select(F.col("status_name").alias("_status_name"), "shipment_status_key")
    lines = (
        lines.join(methods, lines["payment_method"] == methods["_method_name"], "left")
        .drop("_method_name")
        .join(statuses, lines["shipment_status"] == statuses["_status_name"], "left")
        .drop("_status_name")
    )
    line_total = (F.col("quantity") * F.col("unit_price") - F.col("discount")).cast(LINE_TOTAL_TYPE)
    return lines.select(
        surrogate_key("order_id", "line_no").alias("order_item_key"),
        "order_id",
        "line_no",
        "customer_id",
        "product_id",
        "order_ts",
        date_key(F.col("order_ts")).alias("order_date_key"),
        "customer_key",
        "product_key",
        "payment_method_key",
        "shipment_status_key",
        "order_status",
        "channel",
        "currency",
        "payment_method",
        "shipment_status",
        "quantity",
        "unit_price",
        "discount",
        line_total.alias("line_total"),
        timestamp_literal(loaded_at).alias("updated_at"),
    )


def daily_sales(facts: DataFrame, dim_product: DataFrame, *, loaded_at: datetime) -> DataFrame:
    """``agg_daily_sales``: per order day (``date_key``) and product category, over every fact line.

    * ``category`` is the one of the product *version the line resolved to* (the category when it was sold),
      NULL for lines whose product is not known yet;
    * every order status counts (a cancelled order's lines too, as in the warehouse's fact totals report);
      filter ``fact_order_items`` by ``order_status`` for other definitions;
    * lines without an order date are left out (they have no day);
    * measures: ``orders`` (distinct orders), ``lines``, ``units`` (sum of quantity), ``revenue`` (sum of
      line_total), ``discount`` (sum of line discounts); sums as DECIMAL(28,2).
    """
    categories = dim_product.select(F.col("product_key").alias("_product_key"), "category")
    joined = facts.join(categories, facts["product_key"] == categories["_product_key"], "left")
    return (
        joined.where(F.col("order_date_key").isNotNull())
        .groupBy(F.col("order_date_key").alias("date_key"), "category")
        .agg(
            F.count_distinct("order_id").alias("orders"),
            F.count(F.lit(1)).alias("lines"),
            F.coalesce(F.sum("quantity"), F.lit(0)).cast("bigint").alias("units"),
            F.coalesce(F.sum("line_total"), F.lit(0)).cast(SUM_TYPE).alias("revenue"),
            F.coalesce(F.sum("discount"), F.lit(0)).cast(SUM_TYPE).alias("discount"),
        )
        .withColumn("updated_at", timestamp_literal(loaded_at))
    )
