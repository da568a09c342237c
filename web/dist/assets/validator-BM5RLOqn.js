import{b1 as i}from"./index-G5YeMy0D.js";const n=o=>["",...i].includes(o);export{n as i};
