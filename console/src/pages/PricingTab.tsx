import { Stack, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import type { QuantityBreak } from "@bss/client/gen/bss/pricing/v1/catalog_pb";
import { Refusal } from "./Refusal";
import { useApi } from "../api";
import { money } from "../format";
import { Descriptions } from "./Descriptions";
import { ListTable } from "./ListTable";

/** "from 10: €9.00; from 50: €8.50" */
function breaks(list: QuantityBreak[]): string {
  return list.map((b) => `from ${b.minQuantity?.value ?? ""}: ${money(b.price)}`).join("; ");
}

/** The account as pricing prices it: its level, discount and pricelists, its own prices with their breaks, its contracts. */
export function PricingTab({ accountId }: { accountId: string }) {
  const api = useApi();
  const pricing = useQuery({
    queryKey: ["account-pricing", accountId],
    queryFn: () => api.pricing.getAccountPricing({ accountId }),
  });
  const prices = useQuery({
    queryKey: ["account-prices", accountId],
    queryFn: () => api.pricing.listAccountPrices({ accountId, pageSize: 100 }),
  });
  const contracts = useQuery({
    queryKey: ["contracts", accountId],
    queryFn: () => api.contracts.listContracts({ accountId, pageSize: 100 }),
  });
  const found = pricing.data?.pricing;
  return (
    <Stack>
      <Refusal error={pricing.error} />
      {found && (
        <Descriptions
          label="Account pricing"
          rows={[
            ["Priced as", found.hasOwnPricing ? "its own pricing" : `its group parent ${found.pricedAsAccountId}`],
            ["Price level", found.priceLevelId],
            ["Discount", found.discountPercent?.value ? `${found.discountPercent.value} %` : ""],
            ["Pricelists", found.pricelistIds.join(", ")],
            ["Rate plan", found.ratePlanId + (found.ratePlanDefaulted ? " (the tenant's default)" : "")],
          ]}
        />
      )}
      <Title order={4}>Account prices</Title>
      <ListTable
        label="Account prices"
        columns={["Product", "Price", "Forced", "Quantity breaks", "Valid"]}
        rows={prices.data?.accountPrices}
        error={prices.error}
        empty="No price of its own."
        cells={(price) => [
          price.productId,
          money(price.price),
          price.forced ? "Forced" : "",
          breaks(price.breaks),
          [price.validFrom, price.validTo].filter(Boolean).join(" to "),
        ]}
      />
      <Title order={4}>Contracts</Title>
      <ListTable
        label="Contracts"
        columns={["Name", "From", "To", "Items", "Forced"]}
        rows={contracts.data?.contracts}
        error={contracts.error}
        empty="In no contract."
        cells={(contract) => [
          contract.name,
          contract.startDate,
          contract.expiryDate,
          contract.items.map((item) => `${item.productId}: ${money(item.price)}`).join("; "),
          contract.forced ? "Forced" : "",
        ]}
      />
    </Stack>
  );
}
