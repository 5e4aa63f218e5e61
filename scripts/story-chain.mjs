// The chain's part of the seed's story (libs/contracts on a local `hardhat node`): the node and the
// contracts (deployed once, reused by later runs while the node lives), Alice's model NFT, Bob's
// and Charlie's collateral, Dave's fees, and the settlement the incentives service does with the
// protocol key: Charlie's slash after the appeal window, the prover's bounty, the epoch's usage root
// and fee allocation, and Alice's claim.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const MNEMONIC = 'test test test test test test test test test test test junk'; // hardhat's funded test accounts
const TOKEN = 10n ** 18n;

/** Starts `hardhat node` if nothing answers on the port, and deploys the contracts unless this node already has them. */
export async function localChain({ root, local, port, background, portOpen, waitFor, info, resetChainState }) {
  const { createPublicClient, createWalletClient, http, defineChain } = require('viem');
  const { mnemonicToAccount } = require('viem/accounts');
  const { deployClopenContracts, GOVERNANCE_ROLE, hostCollateralAbi } = require('@clopen/contracts');
  const url = `http://127.0.0.1:${port}`;
  if (await portOpen(port)) info(`hardhat node already running on ${url}`);
  else {
    const cli = require.resolve('hardhat/internal/cli/bootstrap.js', { paths: [root] });
    background(
      'hardhat-node',
      [cli, '--config', join(root, 'libs/testing/hardhat/hardhat.config.cjs'), 'node', '--hostname', '127.0.0.1', '--port', String(port)],
      { HARDHAT_DISABLE_TELEMETRY_PROMPT: 'true' },
    );
    await waitFor(
      'the hardhat node',
      async () =>
        (
          await fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}',
          })
        ).ok,
    );
    info(`hardhat node started on ${url} (chain id 31337, offline)`);
  }
  const rpc = async (method, params = []) =>
    (
      await (
        await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) })
      ).json()
    ).result;
  // A block every second, as on a real chain: appeal windows are measured by block timestamps.
  await rpc('evm_setIntervalMining', [1000]);
  const chain = defineChain({
    id: 31337,
    name: 'hardhat',
    nativeCurrency: { name: 'ETH', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [url] } },
  });
  const client = createPublicClient({ chain, cacheTime: 0, transport: http(url, { retryCount: 0 }) });
  const account = (i) => mnemonicToAccount(MNEMONIC, { addressIndex: i });
  const wallet = (acct) => createWalletClient({ account: acct, chain, transport: http(url, { retryCount: 0 }) });

  const stateFile = join(local, 'chain.json');
  let state = existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : undefined;
  const stillThere =
    state &&
    (await client.getBlock({ blockNumber: BigInt(state.deployBlock) }).then(
      (b) => b.hash === state.deployBlockHash,
      () => false,
    ));
  if (stillThere) info(`contracts deployed on an earlier run at block ${state.deployBlock}: ModelRegistry ${state.addresses.modelRegistry}`);
  else {
    const deployer = wallet(account(0));
    const protocol = account(1).address;
    const addresses = await deployClopenContracts(deployer, client, {
      protocol,
      unstakeDelaySeconds: 60n,
      appealWindowSeconds: 15n,
      proverBountyBps: 1000,
      shares: { ownerBps: 5000, hostBps: 3000, proverBps: 1000, protocolBps: 1000 },
    });
    // Locally the protocol key also governs, so governance changes go through the incentives API.
    for (const address of [addresses.hostCollateral, addresses.rewardsVault]) {
      await client.waitForTransactionReceipt({
        hash: await deployer.writeContract({ address, abi: hostCollateralAbi, functionName: 'grantRole', args: [GOVERNANCE_ROLE, protocol] }),
      });
    }
    const head = await client.getBlock();
    state = { addresses: Object.fromEntries(Object.entries(addresses).map(([k, v]) => [k, v])), deployBlock: Number(head.number), deployBlockHash: head.hash };
    writeFileSync(stateFile, JSON.stringify(state, null, 2));
    await resetChainState();
    info(
      `contracts deployed by ${account(0).address}: TestToken ${addresses.token}, ModelRegistry ${addresses.modelRegistry}, HostCollateral ${addresses.hostCollateral}, UsageLedger ${addresses.usageLedger}, RewardsVault ${addresses.rewardsVault}; protocol role: ${protocol} (held by incentives)`,
    );
  }
  const a = state.addresses;
  return {
    url,
    client,
    account,
    wallet,
    addresses: a,
    startBlock: state.deployBlock,
    /** Names this deployment: a fresh node redeploys at the same addresses. */
    deployment: state.deployBlockHash,
    contractsEnv: `ModelRegistry:${a.modelRegistry},HostCollateral:${a.hostCollateral},UsageLedger:${a.usageLedger},RewardsVault:${a.rewardsVault}`,
    protocolKey: `0x${Buffer.from(account(1).getHdKey().privateKey).toString('hex')}`,
  };
}

/** The chain actors of the story: Alice (owner), Dave's wallet (fees), the hosts' own keys, funded for gas. */
export function chainStory({ chain, info, local }) {
  const { getContract, parseEther } = require('viem');
  const { clopenContracts, testTokenContract } = require('@clopen/contracts');
  const { client } = chain;
  const contractsOf = (acct) => {
    const w = chain.wallet(acct);
    return {
      ...clopenContracts(chain.addresses, { public: client, wallet: w }),
      testToken: testTokenContract(chain.addresses.token, { public: client, wallet: w }),
    };
  };
  const mined = async (what, hash) => {
    const r = await client.waitForTransactionReceipt({ hash: await hash });
    if (r.status !== 'success') throw new Error(`${what} reverted in ${r.transactionHash}`);
    return r;
  };
  const alice = chain.account(2);
  const daveWallet = chain.account(5);
  const tokens = (n) => `${(Number(n) / 1e18).toLocaleString('en-US', { maximumFractionDigits: 4 })} CLT`;
  mkdirSync(join(local, 'story'), { recursive: true });
  const stateFile = join(local, 'story', 'chain-story.json');
  const saved = existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : {};
  const save = (patch) => writeFileSync(stateFile, JSON.stringify(Object.assign(saved, patch), null, 2));

  return {
    alice,
    tokens,
    /** Alice mints the model's NFT and commits the version's manifest hash and licence terms. */
    async mintModel(version, licence) {
      const c = contractsOf(alice);
      if (saved.deployment === chain.deployment && saved.chainModelId) {
        info(
          `Alice's model NFT #${saved.chainModelId} was minted on an earlier run (owner ${await c.modelRegistry.read.ownerOf([BigInt(saved.chainModelId)])})`,
        );
        return { chainModelId: BigInt(saved.chainModelId) };
      }
      const fee = TOKEN / 100n; // 0.01 CLT a request
      const { request, result } = await c.modelRegistry.simulate.registerModel([fee], { account: alice });
      const minted = await mined('registerModel', chain.wallet(alice).writeContract(request));
      const { createHash } = await import('node:crypto');
      const terms = `0x${createHash('sha256').update(JSON.stringify(licence)).digest('hex')}`;
      const published = await mined('publishVersion', c.modelRegistry.write.publishVersion([result, `0x${version.manifestSha256}`, terms]));
      save({ deployment: chain.deployment, chainModelId: result.toString() });
      info(
        `Alice mints model NFT #${result} from ${alice.address} (tx ${minted.transactionHash}), fee 0.01 CLT a request, and commits version 1.0.0: artefact hash = its manifest ${version.manifestSha256.slice(0, 16)}…, licence terms ${terms.slice(0, 18)}… (tx ${published.transactionHash})`,
      );
      return { chainModelId: result, mintTx: minted.transactionHash, publishTx: published.transactionHash };
    },
    /** A host funds its key with gas and test tokens, approves HostCollateral and stakes on the model. */
    async stake(name, host, chainModelId, amount = 100n * TOKEN) {
      const c = contractsOf(host);
      const current = await c.hostCollateral.read.stakeOf([host.address, chainModelId]);
      if (current.active >= amount) {
        info(`${name} already has ${tokens(current.active)} staked on model #${chainModelId}`);
        return {};
      }
      const funder = chain.wallet(chain.account(0));
      if ((await client.getBalance({ address: host.address })) < parseEther('0.5'))
        await mined('fund', funder.sendTransaction({ to: host.address, value: parseEther('1') }));
      await mined('mint', c.testToken.write.mint([host.address, amount]));
      await mined('approve', c.testToken.write.approve([chain.addresses.hostCollateral, amount]));
      const staked = await mined('stake', c.hostCollateral.write.stake([chainModelId, amount]));
      info(
        `${name} (${host.address}) stakes ${tokens(amount)} on model #${chainModelId} in HostCollateral (tx ${staked.transactionHash}, event chain.collateral.staked)`,
      );
      return { stakeTx: staked.transactionHash };
    },
    /** Dave pays for his requests up front: fees deposited in the RewardsVault for the model. */
    async depositFees(chainModelId, amount = 5n * TOKEN) {
      const c = contractsOf(daveWallet);
      await mined('mint', c.testToken.write.mint([daveWallet.address, amount]));
      await mined('approve', c.testToken.write.approve([chain.addresses.rewardsVault, amount]));
      const deposited = await mined('deposit', c.rewardsVault.write.deposit([chainModelId, amount]));
      info(
        `Dave's wallet ${daveWallet.address} deposits ${tokens(amount)} of fees for model #${chainModelId} in the RewardsVault (tx ${deposited.transactionHash})`,
      );
      return { depositTx: deposited.transactionHash };
    },
    balanceOf: (address) => contractsOf(alice).token.read.balanceOf([address]),
    stakeOf: (address, chainModelId) => contractsOf(alice).hostCollateral.read.stakeOf([address, chainModelId]),
    /** Alice claims what the incentives service allocated to her, with its proofs. */
    async claim(claims) {
      const c = contractsOf(alice);
      const txs = [];
      for (const cl of claims.filter((x) => !x.claimed)) {
        const r = await mined('claim', c.rewardsVault.write.claim([BigInt(cl.epoch), alice.address, BigInt(cl.amount), cl.proof]));
        txs.push(r.transactionHash);
        info(`Alice claims ${tokens(cl.amount)} for epoch ${cl.epoch} with a ${cl.proof.length}-hash Merkle proof (tx ${r.transactionHash})`);
      }
      return txs;
    },
    getContract,
  };
}
