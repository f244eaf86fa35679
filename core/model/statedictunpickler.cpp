#include "model/statedictunpickler_p.h"

#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <unordered_map>

namespace leantune {

namespace {

// A pickled value, as far as a state_dict needs: scalars, strings, tuples/lists, dicts, an allowed
// global, a storage or a tensor.
struct Value {
    enum Kind { None, Bool, Int, Float, String, Tuple, List, Dict, Global, Tensor } kind = None;
    std::int64_t i = 0;
    double f = 0.0;
    std::string s; // String; Global: "module.name"
    std::vector<std::shared_ptr<Value>> items; // Tuple, List
    std::vector<std::pair<std::shared_ptr<Value>, std::shared_ptr<Value>>> dict;
    torch::Tensor tensor;
};
using ValuePtr = std::shared_ptr<Value>;

struct Refused : std::runtime_error {
    using std::runtime_error::runtime_error;
};

ValuePtr make(Value::Kind kind)
{
    auto v = std::make_shared<Value>();
    v->kind = kind;
    return v;
}

std::optional<torch::ScalarType> storageType(const std::string &name)
{
    static const std::map<std::string, torch::ScalarType> types {
        { "torch.FloatStorage", torch::kFloat },
        { "torch.DoubleStorage", torch::kDouble },
        { "torch.HalfStorage", torch::kHalf },
        { "torch.BFloat16Storage", torch::kBFloat16 },
        { "torch.LongStorage", torch::kLong },
        { "torch.IntStorage", torch::kInt },
        { "torch.ShortStorage", torch::kShort },
        { "torch.CharStorage", torch::kChar },
        { "torch.ByteStorage", torch::kByte },
        { "torch.BoolStorage", torch::kBool },
    };
    const auto it = types.find(name);
    return it == types.end() ? std::nullopt : std::optional<torch::ScalarType>(it->second);
}

bool allowedGlobal(const std::string &name)
{
    return name == "collections.OrderedDict" || name == "torch._utils._rebuild_tensor_v2"
        || name == "torch._utils._rebuild_parameter" || storageType(name).has_value();
}

class Unpickler {
public:
    Unpickler(const std::string &data, const StorageReader &read)
        : m_data(data)
        , m_read(read)
    {
    }

    ValuePtr run()
    {
        for (;;) {
            const auto op = std::uint8_t(byte());
            switch (op) {
            case 0x80: // PROTO
                byte();
                break;
            case 0x95: // FRAME
                bytes(8);
                break;
            case '(': // MARK
                m_marks.push_back(m_stack.size());
                break;
            case '.': // STOP
                return pop();
            case '0': // POP
                pop();
                break;
            case '1': // POP_MARK
                popMark();
                break;
            case ')':
                push(make(Value::Tuple));
                break;
            case 't':
                push(sequence(Value::Tuple, popMark()));
                break;
            case 0x85:
            case 0x86:
            case 0x87: {
                std::vector<ValuePtr> items(op - 0x84);
                for (auto it = items.rbegin(); it != items.rend(); ++it)
                    *it = pop();
                push(sequence(Value::Tuple, std::move(items)));
                break;
            }
            case ']':
                push(make(Value::List));
                break;
            case 'l':
                push(sequence(Value::List, popMark()));
                break;
            case 'a': {
                ValuePtr item = pop();
                expect(top(), Value::List, "APPEND")->items.push_back(item);
                break;
            }
            case 'e': {
                std::vector<ValuePtr> items = popMark();
                ValuePtr list = expect(top(), Value::List, "APPENDS");
                list->items.insert(list->items.end(), items.begin(), items.end());
                break;
            }
            case '}':
                push(make(Value::Dict));
                break;
            case 'd': {
                ValuePtr dict = make(Value::Dict);
                addItems(dict, popMark());
                push(dict);
                break;
            }
            case 's': {
                ValuePtr value = pop();
                ValuePtr key = pop();
                expect(top(), Value::Dict, "SETITEM")->dict.emplace_back(key, value);
                break;
            }
            case 'u': {
                std::vector<ValuePtr> items = popMark();
                addItems(expect(top(), Value::Dict, "SETITEMS"), std::move(items));
                break;
            }
            case 'N':
                push(make(Value::None));
                break;
            case 0x88:
            case 0x89: {
                ValuePtr v = make(Value::Bool);
                v->i = op == 0x88;
                push(v);
                break;
            }
            case 'K':
                pushInt(std::uint8_t(byte()));
                break;
            case 'M':
                pushInt(std::int64_t(littleEndian(2)));
                break;
            case 'J':
                pushInt(std::int32_t(std::uint32_t(littleEndian(4))));
                break;
            case 0x8a: { // LONG1
                const int n = std::uint8_t(byte());
                if (n > 8)
                    throw std::runtime_error("integer too large");
                std::uint64_t u = n ? littleEndian(n) : 0;
                if (n > 0 && n < 8 && (u >> (8 * n - 1)) & 1)
                    u |= ~std::uint64_t(0) << (8 * n); // sign-extend
                pushInt(std::int64_t(u));
                break;
            }
            case 'G': { // BINFLOAT, big-endian
                std::uint64_t u = 0;
                for (char c : bytes(8))
                    u = (u << 8) | std::uint8_t(c);
                ValuePtr v = make(Value::Float);
                std::memcpy(&v->f, &u, sizeof u);
                push(v);
                break;
            }
            case 'X': // BINUNICODE
            case 'T': // BINSTRING
                pushString(bytes(littleEndian(4)));
                break;
            case 0x8c: // SHORT_BINUNICODE
            case 'U': // SHORT_BINSTRING
                pushString(bytes(std::uint8_t(byte())));
                break;
            case 0x8d: // BINUNICODE8
                pushString(bytes(littleEndian(8)));
                break;
            case 'q':
                m_memo[std::uint8_t(byte())] = top();
                break;
            case 'r':
                m_memo[littleEndian(4)] = top();
                break;
            case 0x94: // MEMOIZE
                m_memo[m_memo.size()] = top();
                break;
            case 'h':
                push(memo(std::uint8_t(byte())));
                break;
            case 'j':
                push(memo(littleEndian(4)));
                break;
            case 'c': { // GLOBAL module\nname\n
                std::string module = line();
                pushGlobal(module + '.' + line());
                break;
            }
            case 0x93: { // STACK_GLOBAL
                ValuePtr name = expect(pop(), Value::String, "STACK_GLOBAL");
                ValuePtr module = expect(pop(), Value::String, "STACK_GLOBAL");
                pushGlobal(module->s + '.' + name->s);
                break;
            }
            case 'Q': // BINPERSID
                push(storage(pop()));
                break;
            case 'R': { // REDUCE
                ValuePtr args = expect(pop(), Value::Tuple, "REDUCE");
                ValuePtr callable = expect(pop(), Value::Global, "REDUCE");
                push(reduce(callable->s, args->items));
                break;
            }
            case 'b': // BUILD: a state_dict's _metadata attribute, not needed
                pop();
                top();
                break;
            default:
                throw Refused("opcode 0x" + toHex(op) + " at byte " + std::to_string(m_pos - 1)
                    + ", which a state_dict does not use");
            }
        }
    }

private:
    static std::string toHex(std::uint8_t op)
    {
        static const char digits[] = "0123456789abcdef";
        return { digits[op >> 4], digits[op & 15] };
    }

    char byte()
    {
        if (m_pos >= m_data.size())
            throw std::runtime_error("the pickle ends early (truncated file?)");
        return m_data[m_pos++];
    }
    std::string bytes(std::uint64_t n)
    {
        if (n > m_data.size() - m_pos)
            throw std::runtime_error("the pickle ends early (truncated file?)");
        std::string out = m_data.substr(m_pos, n);
        m_pos += n;
        return out;
    }
    std::uint64_t littleEndian(int n)
    {
        std::uint64_t u = 0;
        const std::string b = bytes(n);
        for (int k = n - 1; k >= 0; --k)
            u = (u << 8) | std::uint8_t(b[k]);
        return u;
    }
    std::string line()
    {
        const std::size_t end = m_data.find('\n', m_pos);
        if (end == std::string::npos)
            throw std::runtime_error("the pickle ends early (truncated file?)");
        std::string out = m_data.substr(m_pos, end - m_pos);
        m_pos = end + 1;
        return out;
    }

    void push(ValuePtr v) { m_stack.push_back(std::move(v)); }
    ValuePtr top()
    {
        if (m_stack.empty() || (!m_marks.empty() && m_marks.back() >= m_stack.size()))
            throw std::runtime_error("malformed pickle (stack underflow)");
        return m_stack.back();
    }
    ValuePtr pop()
    {
        ValuePtr v = top();
        m_stack.pop_back();
        return v;
    }
    std::vector<ValuePtr> popMark()
    {
        if (m_marks.empty())
            throw std::runtime_error("malformed pickle (no mark)");
        const std::size_t mark = m_marks.back();
        m_marks.pop_back();
        std::vector<ValuePtr> items(m_stack.begin() + std::ptrdiff_t(mark), m_stack.end());
        m_stack.resize(mark);
        return items;
    }
    ValuePtr memo(std::uint64_t key)
    {
        const auto it = m_memo.find(key);
        if (it == m_memo.end())
            throw std::runtime_error("malformed pickle (unknown memo entry)");
        return it->second;
    }
    static ValuePtr expect(ValuePtr v, Value::Kind kind, const char *what)
    {
        if (v->kind != kind)
            throw std::runtime_error(
                std::string("malformed pickle (unexpected value for ") + what + ')');
        return v;
    }
    static ValuePtr sequence(Value::Kind kind, std::vector<ValuePtr> items)
    {
        ValuePtr v = make(kind);
        v->items = std::move(items);
        return v;
    }
    static void addItems(const ValuePtr &dict, std::vector<ValuePtr> items)
    {
        if (items.size() % 2)
            throw std::runtime_error("malformed pickle (odd dict items)");
        for (std::size_t k = 0; k < items.size(); k += 2)
            dict->dict.emplace_back(items[k], items[k + 1]);
    }
    void pushInt(std::int64_t i)
    {
        ValuePtr v = make(Value::Int);
        v->i = i;
        push(v);
    }
    void pushString(std::string s)
    {
        ValuePtr v = make(Value::String);
        v->s = std::move(s);
        push(v);
    }
    void pushGlobal(const std::string &name)
    {
        if (!allowedGlobal(name))
            throw Refused("the pickle names '" + name
                + "', which a state_dict never uses; refused, nothing was run");
        ValuePtr v = make(Value::Global);
        v->s = name;
        push(v);
    }
    static std::int64_t integer(const ValuePtr &v)
    {
        return expect(v, Value::Int, "an integer")->i;
    }
    static std::vector<std::int64_t> integers(const ValuePtr &v)
    {
        std::vector<std::int64_t> out;
        for (const ValuePtr &item : expect(v, Value::Tuple, "a shape")->items) {
            out.push_back(integer(item));
            if (out.back() < 0)
                throw std::runtime_error("malformed pickle (negative size or stride)");
        }
        return out;
    }

    // ('storage', torch.FloatStorage, key, location, numel): the storage record data/KEY.
    ValuePtr storage(const ValuePtr &pid)
    {
        const std::vector<ValuePtr> &t = expect(pid, Value::Tuple, "BINPERSID")->items;
        if (t.size() != 5 || t[0]->kind != Value::String || t[0]->s != "storage"
            || t[1]->kind != Value::Global || t[2]->kind != Value::String)
            throw std::runtime_error("malformed pickle (unexpected persistent id)");
        const std::optional<torch::ScalarType> type = storageType(t[1]->s);
        if (!type)
            throw std::runtime_error("malformed pickle (persistent id without a storage type)");
        const std::string &key = t[2]->s;
        const std::int64_t numel = integer(t[4]);
        auto cached = m_storages.find(key);
        if (cached == m_storages.end()) {
            const std::optional<std::string> data = m_read(key);
            if (!data)
                throw std::runtime_error("storage record data/" + key + " is missing");
            const std::int64_t elementSize = std::int64_t(c10::elementSize(*type));
            if (numel < 0 || std::int64_t(data->size()) < numel * elementSize)
                throw std::runtime_error(
                    "storage record data/" + key + " is shorter than its tensor (truncated file?)");
            torch::Tensor storage = torch::empty({ numel }, torch::TensorOptions().dtype(*type));
            std::memcpy(storage.data_ptr(), data->data(), std::size_t(numel * elementSize));
            cached = m_storages.emplace(key, storage).first;
        }
        ValuePtr v = make(Value::Tensor);
        v->tensor = cached->second;
        return v;
    }

    ValuePtr reduce(const std::string &callable, const std::vector<ValuePtr> &args)
    {
        if (callable == "collections.OrderedDict" && args.empty())
            return make(Value::Dict);
        if (callable == "torch._utils._rebuild_parameter" && !args.empty())
            return expect(args[0], Value::Tensor, "_rebuild_parameter");
        if (callable == "torch._utils._rebuild_tensor_v2" && args.size() >= 4) {
            const torch::Tensor storage = expect(args[0], Value::Tensor, "a storage")->tensor;
            const std::int64_t offset = integer(args[1]);
            const std::vector<std::int64_t> size = integers(args[2]);
            const std::vector<std::int64_t> stride = integers(args[3]);
            if (size.size() != stride.size() || offset < 0)
                throw std::runtime_error("malformed pickle (tensor shape and strides disagree)");
            std::int64_t last = offset, numel = 1;
            for (std::size_t d = 0; d < size.size(); ++d) {
                numel *= size[d];
                if (size[d] > 0)
                    last += (size[d] - 1) * stride[d];
            }
            if (numel > 0 && last >= storage.numel())
                throw std::runtime_error("malformed pickle (tensor outside its storage)");
            ValuePtr v = make(Value::Tensor);
            v->tensor = numel == 0 ? torch::empty(size, storage.options())
                                   : storage.as_strided(size, stride, offset).clone();
            return v;
        }
        throw Refused("unexpected call of " + callable);
    }

    const std::string &m_data;
    const StorageReader &m_read;
    std::size_t m_pos = 0;
    std::vector<ValuePtr> m_stack;
    std::vector<std::size_t> m_marks;
    std::unordered_map<std::uint64_t, ValuePtr> m_memo;
    std::map<std::string, torch::Tensor> m_storages;
};

} // namespace

std::optional<NamedTensors> unpickleStateDict(
    const std::string &pickle, const StorageReader &read, QString *error)
{
    const auto fail = [error](const QString &message) -> std::optional<NamedTensors> {
        if (error)
            *error = message;
        return std::nullopt;
    };
    try {
        const ValuePtr root = Unpickler(pickle, read).run();
        if (root->kind != Value::Dict)
            return fail(QStringLiteral("the file holds no state_dict (a dict of tensors)"));
        NamedTensors out;
        for (const auto &[key, value] : root->dict) {
            if (key->kind != Value::String)
                return fail(QStringLiteral("the state_dict has a key that is not a string"));
            if (value->kind != Value::Tensor)
                return fail(QStringLiteral("state_dict entry '%1' is not a tensor (a whole model "
                                           "saved? save model.state_dict() instead)")
                                .arg(QString::fromStdString(key->s)));
            out.emplace_back(key->s, value->tensor);
        }
        return out;
    } catch (const Refused &e) {
        return fail(
            QStringLiteral("unsafe or unsupported pickle: %1").arg(QString::fromUtf8(e.what())));
    } catch (const c10::Error &e) {
        return fail(QString::fromUtf8(e.what_without_backtrace()).section(QLatin1Char('\n'), 0, 0));
    } catch (const std::exception &e) {
        return fail(QString::fromUtf8(e.what()));
    }
}

} // namespace leantune
