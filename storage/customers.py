"""The customers table: an organization's customers (tenants, clients, parents), and their
portal accounts found from what a person types in chat.

Within an organization a customer is found by customer number or contact (the CSV import);
across organizations by customer number with postcode and house number, or by an e-mail
address or phone number, because a person in chat has not said which organization they
belong to.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from flows.domain import DeliveryChannel
from flows.model import Customer
from storage.orm import customers


class Customers:
    """The one repository of the customers table."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- within one organization (the import) ------------------------------------------------

    async def by_number(self, organization_id: int, number: str) -> Customer | None:
        result = await self.session.scalars(
            select(Customer).where(
                customers.c.organization_id == organization_id,
                customers.c.customer_number == number,
            )
        )
        return result.first()

    async def by_contact(
        self, organization_id: int, email: str | None = None, phone: str | None = None
    ) -> Sequence[Customer]:
        """Customers with this e-mail address or phone number (normalized: a lower-case
        address, an E.164 number); a family may share one, so there may be several."""
        conditions = []
        if email:
            conditions.append(customers.c.email == email.lower())
        if phone:
            conditions.append(customers.c.phone == phone)
        if not conditions:
            return []
        result = await self.session.scalars(
            select(Customer)
            .where(customers.c.organization_id == organization_id, or_(*conditions))
            .order_by(customers.c.id)
        )
        return result.all()

    async def all_numbers(self, organization_id: int) -> dict[str, Customer]:
        """Every customer of the organization by customer number (for the import)."""
        result = await self.session.scalars(
            select(Customer).where(customers.c.organization_id == organization_id)
        )
        return {customer.customer_number: customer for customer in result}

    async def add(self, customer: Customer) -> Customer:
        self.session.add(customer)
        await self.session.flush()
        return customer

    # -- across organizations (a person in chat) ---------------------------------------------

    async def get(self, customer_id: int) -> Customer | None:
        return await self.session.get(Customer, customer_id)

    async def matching_address(
        self, customer_number: str, postcode: str, house_number: str
    ) -> Sequence[Customer]:
        """Customers with this number whose postcode and house number match (normalized)."""
        result = await self.session.scalars(
            select(Customer).where(
                customers.c.customer_number == customer_number,
                func.upper(func.replace(customers.c.postcode, " ", ""))
                == postcode.replace(" ", ""),
                func.lower(func.replace(customers.c.house_number, " ", "")) == house_number,
            )
        )
        return result.all()

    async def with_number(self, customer_number: str) -> Sequence[Customer]:
        result = await self.session.scalars(
            select(Customer).where(customers.c.customer_number == customer_number.strip())
        )
        return result.all()

    async def accounts_for(self, channel: DeliveryChannel, value: str) -> Sequence[Customer]:
        """Activated accounts this address or number speaks for: their own, or (for an
        account under administration) the administrator's address."""
        own = customers.c.email if channel is DeliveryChannel.EMAIL else customers.c.phone
        condition = own == value
        if channel is DeliveryChannel.EMAIL:
            condition = or_(
                condition,
                and_(
                    customers.c.under_administration.is_(True),
                    func.lower(customers.c.administrator_email) == value,
                ),
            )
        result = await self.session.scalars(
            select(Customer)
            .where(condition, customers.c.account_active.is_(True))
            .order_by(customers.c.id)
        )
        return result.all()
