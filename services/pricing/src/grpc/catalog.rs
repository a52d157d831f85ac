//! Products and price levels.

use bss_platform::auth::authorize;
use bss_platform::error::Violations;
use bss_platform::fieldmask::writable_paths;
use bss_platform::idempotency::RequestKey;
use bss_platform::input::{code, optional_text, required_id, required_text};
use bss_platform::money::{Currency, money_from_wire, money_to_wire};
use bss_platform::paging::Page;
use bss_platform::time::timestamp;
use bss_proto::pricing::catalog_service_server::CatalogService;
use bss_proto::pricing::*;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::convert::{tiered_from_wire, tiered_to_wire};
use super::{BROWSERS, PricingApi, READERS, WRITERS};
use crate::domain::catalog::{Availability, Goods, PriceLevel, Product, ProductText, goods};
use crate::domain::error::PricingError;
use crate::domain::price::Tiered;

fn availability_from_wire(value: i32) -> Result<Availability, String> {
    match ProductAvailability::try_from(value) {
        Ok(ProductAvailability::Unspecified | ProductAvailability::Public) => Ok(Availability::Public),
        Ok(ProductAvailability::ContractOnly) => Ok(Availability::ContractOnly),
        Err(_) => Err(format!("unknown availability {value}")),
    }
}

fn availability_to_wire(availability: Availability) -> ProductAvailability {
    match availability {
        Availability::Public => ProductAvailability::Public,
        Availability::ContractOnly => ProductAvailability::ContractOnly,
    }
}

pub fn product_to_proto(product: &Product) -> bss_proto::pricing::Product {
    bss_proto::pricing::Product {
        id: product.id.to_string(),
        code: product.code.clone(),
        name: product.name.clone(),
        product_type: product.product_type.clone(),
        family: product.family.clone(),
        availability: availability_to_wire(product.availability).into(),
        list_price: Some(money_to_wire(product.list_price, product.currency)),
        create_time: Some(timestamp(product.created_at)),
        update_time: Some(timestamp(product.updated_at)),
        etag: product.etag(),
        physical_good: product.goods.map(goods_to_proto),
    }
}

pub fn goods_to_proto(goods: Goods) -> bss_proto::pricing::PhysicalGood {
    bss_proto::pricing::PhysicalGood {
        traceable: goods.traceable,
        warranty_months: i32::try_from(goods.warranty_months).unwrap_or(i32::MAX),
    }
}

/// A physical good's settings as asked; `Some(None)` for a service.
fn goods_from_wire(v: &mut Violations, input: &bss_proto::pricing::Product) -> Option<Option<Goods>> {
    match &input.physical_good {
        None => Some(None),
        Some(good) => {
            v.keep("product.physical_good.warranty_months", goods(good.traceable, good.warranty_months)).map(Some)
        }
    }
}

fn level_to_proto(level: &PriceLevel) -> bss_proto::pricing::PriceLevel {
    bss_proto::pricing::PriceLevel {
        id: level.id.to_string(),
        code: level.code.clone(),
        name: level.name.clone(),
        currency_code: level.currency.code.to_owned(),
    }
}

/// A list price: zero or more.
fn list_price(v: &mut Violations, input: &bss_proto::pricing::Product) -> Option<(rust_decimal::Decimal, Currency)> {
    let (amount, currency) = money_from_wire(v, "product.list_price", input.list_price.as_ref())?;
    if amount.is_sign_negative() {
        v.add("product.list_price.amount", "must be zero or more");
        return None;
    }
    Some((amount, currency))
}

/// The fields of a new product.
fn new_product(input: &bss_proto::pricing::Product) -> Result<Product, Violations> {
    let mut v = Violations::new();
    let text = ProductText::parse(&input.code, &input.name, &input.product_type, &input.family)
        .map_err(|problems| {
            for (field, problem) in problems {
                v.add(format!("product.{field}"), problem);
            }
        })
        .ok();
    let availability = v.keep("product.availability", availability_from_wire(input.availability));
    let price = list_price(&mut v, input);
    let goods = goods_from_wire(&mut v, input);
    let (Some(text), Some(availability), Some((list_price, currency)), Some(goods)) =
        (text, availability, price, goods)
    else {
        return Err(v);
    };
    let now = bss_platform::time::now();
    Ok(Product {
        id: Uuid::now_v7(),
        code: text.code,
        name: text.name,
        product_type: text.product_type,
        family: text.family,
        availability,
        list_price,
        currency,
        created_at: now,
        updated_at: now,
        goods,
    })
}

const PRODUCT_WRITABLE: &[&str] = &["name", "product_type", "family", "availability", "list_price", "physical_good"];

/// Applies the masked fields of `input` to `product`.
fn overlay_product(
    product: &mut Product,
    input: &bss_proto::pricing::Product,
    paths: &[&str],
) -> Result<(), Violations> {
    let mut v = Violations::new();
    for path in paths {
        match *path {
            "name" => {
                if let Some(name) = v.keep("product.name", required_text(&input.name, 200)) {
                    product.name = name;
                }
            }
            "product_type" => {
                if let Some(value) = v.keep("product.product_type", optional_text(&input.product_type, 64)) {
                    product.product_type = value;
                }
            }
            "family" => {
                if let Some(value) = v.keep("product.family", optional_text(&input.family, 64)) {
                    product.family = value;
                }
            }
            "availability" => {
                if let Some(value) = v.keep("product.availability", availability_from_wire(input.availability)) {
                    product.availability = value;
                }
            }
            "list_price" => {
                if let Some((amount, currency)) = list_price(&mut v, input) {
                    product.list_price = amount;
                    product.currency = currency;
                }
            }
            "physical_good" => {
                if let Some(goods) = goods_from_wire(&mut v, input) {
                    product.goods = goods;
                }
            }
            _ => {}
        }
    }
    v.into_result()
}

#[tonic::async_trait]
impl CatalogService for PricingApi {
    async fn create_product(
        &self,
        request: Request<CreateProductRequest>,
    ) -> Result<Response<CreateProductResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let product = new_product(&request.product.clone().unwrap_or_default())?;
            let key = RequestKey::new(tenant_id, "CreateProduct", &request.request_id, &request)?;
            self.create_product(tenant_id, key, product, |stored| CreateProductResponse {
                product: Some(product_to_proto(stored)),
                ..Default::default()
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn get_product(&self, request: Request<GetProductRequest>) -> Result<Response<GetProductResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, BROWSERS)?;
        let request = request.into_inner();
        let run = async {
            if request.product.is_empty() {
                return Err(Violations::single("product", "is required: an id or a code").into());
            }
            let product = self.product(&caller, tenant_id, &request.product).await?;
            Ok::<_, PricingError>(GetProductResponse { product: Some(product_to_proto(&product)) })
        };
        Ok(Response::new(run.await?))
    }

    async fn list_products(
        &self,
        request: Request<ListProductsRequest>,
    ) -> Result<Response<ListProductsResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, BROWSERS)?;
        let request = request.into_inner();
        let run = async {
            let filters = ListProductsRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            let (products, next_page_token) = self.products(&caller, tenant_id, &request.family, &page).await?;
            Ok::<_, PricingError>(ListProductsResponse {
                products: products.iter().map(product_to_proto).collect(),
                next_page_token,
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn update_product(
        &self,
        request: Request<UpdateProductRequest>,
    ) -> Result<Response<UpdateProductResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let input = request.product.clone().unwrap_or_default();
            let mut v = Violations::new();
            let id = v.keep("product.id", required_id(&input.id));
            let paths = writable_paths(request.update_mask.as_ref(), PRODUCT_WRITABLE)
                .map_err(|problems| v.extend(problems))
                .ok();
            let (Some(id), Some(paths)) = (id, paths) else {
                return Err(v.into());
            };
            let key = RequestKey::new(tenant_id, "UpdateProduct", &request.request_id, &request)?;
            let change = |product: &mut Product| overlay_product(product, &input, &paths);
            self.update_product(tenant_id, key, (id, &input.etag), change, |stored| UpdateProductResponse {
                product: Some(product_to_proto(stored)),
                ..Default::default()
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn create_price_level(
        &self,
        request: Request<CreatePriceLevelRequest>,
    ) -> Result<Response<CreatePriceLevelResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let input = request.price_level.clone().unwrap_or_default();
            let mut v = Violations::new();
            let level_code = v.keep("price_level.code", code(&input.code, 16));
            let name = v.keep("price_level.name", optional_text(&input.name, 200));
            let currency = v.keep("price_level.currency_code", Currency::parse(&input.currency_code));
            let (Some(code), Some(name), Some(currency)) = (level_code, name, currency) else {
                return Err(v.into());
            };
            let level = PriceLevel { id: Uuid::now_v7(), code, name, currency };
            let key = RequestKey::new(tenant_id, "CreatePriceLevel", &request.request_id, &request)?;
            self.create_price_level(tenant_id, key, level, |level| CreatePriceLevelResponse {
                price_level: Some(level_to_proto(level)),
                ..Default::default()
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn list_price_levels(
        &self,
        request: Request<ListPriceLevelsRequest>,
    ) -> Result<Response<ListPriceLevelsResponse>, Status> {
        let (_, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let page = Page::parse(request.page_size, &request.page_token, &ListPriceLevelsRequest::default())?;
            let levels = self.price_levels(tenant_id, (page.after_text()?, page.fetch_limit())).await?;
            let (levels, next_page_token) = page.finish(levels, |level| level.code.as_bytes().to_vec());
            Ok::<_, PricingError>(ListPriceLevelsResponse {
                price_levels: levels.iter().map(level_to_proto).collect(),
                next_page_token,
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn set_level_price(
        &self,
        request: Request<SetLevelPriceRequest>,
    ) -> Result<Response<SetLevelPriceResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let input = request.level_price.clone().unwrap_or_default();
            let mut v = Violations::new();
            let level_id = v.keep("level_price.level_id", required_id(&input.level_id));
            let product_id = v.keep("level_price.product_id", required_id(&input.product_id));
            let priced = tiered_from_wire(
                &mut v,
                "level_price.price",
                input.price.as_ref(),
                "level_price.breaks",
                &input.breaks,
                None,
            );
            let (Some(level_id), Some(product_id), Some((price, currency))) = (level_id, product_id, priced) else {
                return Err(v.into());
            };
            let key = RequestKey::new(tenant_id, "SetLevelPrice", &request.request_id, &request)?;
            self.set_level_price(tenant_id, key, (level_id, product_id, price, currency), |price| {
                SetLevelPriceResponse {
                    level_price: Some(level_price_to_proto(level_id, product_id, price, currency)),
                    ..Default::default()
                }
            })
            .await
        };
        Ok(Response::new(run.await?))
    }
}

fn level_price_to_proto(level_id: Uuid, product_id: Uuid, price: &Tiered, currency: Currency) -> LevelPrice {
    let (price, breaks) = tiered_to_wire(price, currency);
    LevelPrice { level_id: level_id.to_string(), product_id: product_id.to_string(), price: Some(price), breaks }
}
