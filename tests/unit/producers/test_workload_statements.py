"""Statement building and source DDL: catalog identifiers quoted, values always parameters, unknown names refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from common.errors import ConfigError
from producers.workload import records, source_schema
from producers.workload.statements import StatementBuilder, Transaction
from schemas.catalog import Catalog, load_catalog


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def builder(catalog: Catalog) -> StatementBuilder:
    return StatementBuilder(catalog)


def test_multi_row_insert_quotes_identifiers_and_parameterises_values(builder: StatementBuilder) -> None:
    columns = records.COLUMNS["order_item"]
    rows = [(1, 1, 7, 2, Decimal("9.99"), Decimal("0.00")), (1, 2, 8, 1, Decimal("5.49"), Decimal("0.50"))]
    statement = builder.insert("order_item", columns, rows)
    assert statement.text() == (
        'INSERT INTO "public"."order_item" ("order_id", "line_no", "product_id", "quantity", "unit_price", '
        '"discount") VALUES (%s, %s, %s, %s, %s, %s), (%s, %s, %s, %s, %s, %s)'
    )
    assert statement.params == rows[0] + rows[1]
    assert (statement.table, statement.operation, statement.rows) == ("order_item", "insert", 2)


def test_update_and_delete_address_one_row_by_primary_key(builder: StatementBuilder) -> None:
    update = builder.update("orders", {"order_id": 5}, {"status": "paid", "updated_at": None})
    assert update.text() == 'UPDATE "public"."orders" SET "status" = %s, "updated_at" = %s WHERE "order_id" = %s'
    assert update.params == ("paid", None, 5) and update.rows == 1
    delete = builder.delete("order_item", {"line_no": 2, "order_id": 9})
    assert delete.text() == 'DELETE FROM "public"."order_item" WHERE "order_id" = %s AND "line_no" = %s'
    assert delete.params == (9, 2)


def test_values_never_end_up_in_the_query_text(builder: StatementBuilder) -> None:
    hostile = "x'); DROP TABLE customer; --"
    statement = builder.update("customer", {"customer_id": 1}, {"city": hostile})
    assert hostile not in statement.text()
    assert hostile in statement.params


def test_unknown_columns_tables_and_missing_required_columns_are_config_errors(builder: StatementBuilder) -> None:
    with pytest.raises(ConfigError, match="no column 'nickname'"):
        builder.update("customer", {"customer_id": 1}, {"nickname": "x"})
    with pytest.raises(ConfigError, match="unknown table 'client'"):
        builder.delete("client", {"client_id": 1})
    with pytest.raises(ConfigError, match="does not fill column"):
        builder.insert("payment", ("payment_id", "order_id"), [(1, 2)])
    with pytest.raises(ValueError, match="key must be exactly"):
        builder.delete("order_item", {"order_id": 1})


def test_transaction_changes_count_rows_not_statements(builder: StatementBuilder) -> None:
    items = builder.insert(
        "order_item", records.COLUMNS["order_item"], [(1, n, n, 1, Decimal(1), Decimal(0)) for n in (1, 2, 3)]
    )
    status = builder.update("orders", {"order_id": 1}, {"status": "placed"})
    assert Transaction("x", (items, status)).changes == 4


def test_source_ddl_creates_tables_replica_identity_full_and_foreign_key_indexes(catalog: Catalog) -> None:
    rendered = {table.name: [s.as_string() for s in source_schema.create_statements(table)] for table in catalog.tables}
    for table in catalog.tables:
        statements = rendered[table.name]
        assert statements[1].startswith(f"CREATE TABLE IF NOT EXISTS {table.qualified_name} (")
        assert f'ALTER TABLE "public"."{table.name}" REPLICA IDENTITY FULL' in statements
    assert (
        'CREATE INDEX IF NOT EXISTS "orders_customer_id_idx" ON "public"."orders" ("customer_id")' in rendered["orders"]
    )
    assert any('"order_item_product_id_idx"' in s for s in rendered["order_item"])
    assert not any("order_item_order_id_idx" in s for s in rendered["order_item"])  # the primary key leads with it
    assert any('"payment_order_id_idx"' in s for s in rendered["payment"])
    assert any('"shipment_order_id_idx"' in s for s in rendered["shipment"])
    assert not any("CREATE INDEX" in s for s in rendered["customer"])
